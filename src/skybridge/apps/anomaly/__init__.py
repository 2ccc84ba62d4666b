"""anomaly: streaming anomaly detection per series, alerts through ``notify``, NAB scoring.

The Python API (imported on use; this package imports nothing)::

    from skybridge.apps.anomaly.detectors import new_detector
    from skybridge.apps.anomaly.evaluate import detector_scores, nab_report
    from skybridge.apps.anomaly.pipeline import build_pipeline      # (ctx) -> Pipeline
    from skybridge.apps.anomaly.schedule import alert_pass          # (ctx) -> AlertPass

    detector = new_detector("combined")
    score = detector.update(time, value)      # in [0, 1]; flag at >= threshold
    nab_report(Path("nab"))["standard"]       # NAB's normalised standard-profile score
"""
