"""The recommend app passes the app contract."""

from skybridge.testing.contracts.apps import AppContract


class TestRecommendContract(AppContract):
    app_name = "recommend"
