"""The app kit: what every app builds on, below the apps and above the runtime.

* :mod:`.manifest`: ``AppSpec`` (the manifest), discovery of installed apps, lazy references;
* :mod:`.context`: ``AppContext`` (settings, the app's typed section, ``connect(family)``);
* :mod:`.settings`: settings with every app's ``[section]``;
* :mod:`.cli`: the CLI session, exit codes, error reporting, ``--json`` output, tables;
* :mod:`.errors`: the JSON error body every HTTP error uses;
* :mod:`.web`: dashboard page content (templates, charts and tables);
* :mod:`.background`: running pipelines, services and scheduled jobs.

Apps import core, backends, runtime and this kit, never a surface (``skybridge.cli``,
``skybridge.commands``, ``skybridge.server``) and never another app. This package's ``__init__``
imports nothing, so reading a manifest stays cheap.
"""
