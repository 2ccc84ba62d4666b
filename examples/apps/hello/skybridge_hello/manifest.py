"""The hello app's manifest: every part as a lazy reference, so reading it imports nothing."""

from skybridge.apps.kit.manifest import AppSpec

APP = AppSpec(
    name="hello",
    title="Hello",
    description="Count greetings: an example app with every part an app can have.",
    config="skybridge_hello.config:HelloConfig",
    backends={"kv": None, "streams": None},
    cli="skybridge_hello.cli:hello_app",
    router="skybridge_hello.router:build_router",
    page="skybridge_hello.page:render_page",
    page_action="skybridge_hello.page:handle_action",
    pipelines={"counter": "skybridge_hello.pipeline:build_counter"},
    jobs={"heartbeat": "skybridge_hello.jobs:heartbeat"},
    demo="skybridge_hello.demo:seed",
    scopes={"hello:read": "read", "hello:greet": "operate"},
    page_scopes={"greet": "hello:greet"},
    demo_try=["skybridge hello list"],
)
