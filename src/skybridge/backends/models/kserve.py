"""``http://host:port/v2/models/NAME`` (or ``https://``): a model server speaking the KServe
Open Inference Protocol (v2) over JSON: KServe, Triton, MLServer, Seldon.

A batch is one ``POST .../infer`` with one ``FP64`` input tensor ``[rows, columns]`` named
``input`` (URL ``input=``, default ``input-0``); the predictions are the first output tensor
(or the one named by ``output=``), one value per row (a list per row when it is 2-D).
``token=`` sends ``Authorization: Bearer`` (masked wherever the URL is shown); ``features=``
names the columns; ``missing=true`` sends a missing value as ``null``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import httpx

from skybridge.backends.models.base import ModelEndpoint, Row, parse_columns
from skybridge.backends.models.wire import retry_after_header, status_error
from skybridge.core.errors import ConfigError, TerminalError, TransientError
from skybridge.core.secret import Secret
from skybridge.core.urls import BackendURL

_OWN = frozenset({"features", "input", "output", "token", "timeout", "missing"})


class KServeModel(ModelEndpoint):
    """A model behind the KServe v2 inference protocol.

    Args:
        base_url: ``http(s)://host:port/v2/models/NAME[/versions/V]``.
        input_name: Name of the input tensor.
        output_name: Output tensor to read (default the first).
        token: Bearer token, if the server wants one.
        missing: Send missing values as ``null`` (the server must accept them).
    """

    url_credentials = True

    scheme: ClassVar[str] = "http"

    def __init__(
        self,
        base_url: str,
        *,
        input_name: str = "input-0",
        output_name: str | None = None,
        token: str | None = None,
        missing: bool = False,
        **base: Any,
    ) -> None:
        super().__init__(missing=missing, **base)
        parsed = httpx.URL(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"model URL {base_url!r} needs http(s) and a host")
        if "/v2/models/" not in parsed.path:
            raise ConfigError(
                "a KServe v2 model URL ends in /v2/models/<name>",
                hint="write http://host:8080/v2/models/my-model",
            )
        self.base_url = base_url.rstrip("/")
        self.input_name = input_name
        self.output_name = output_name
        self._token = Secret(token) if token else None
        self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = url.params
        head = url.raw.split("?", 1)[0]
        extra = {k: v for k, v in params.items() if k not in _OWN}
        if extra:
            head += f"?{httpx.QueryParams(extra)}"
        options.setdefault("columns", parse_columns(params.get("features")))
        options.setdefault("input_name", params.get("input", "input-0"))
        options.setdefault("output_name", params.get("output"))
        options.setdefault("token", params.get("token"))
        options.setdefault("missing", url.flag("missing"))
        if "timeout" in params:
            options.setdefault("timeout", float(params["timeout"]))
        return cls(head, **options)

    def describe(self) -> str:
        url = httpx.URL(self.base_url)
        return f"{url.scheme}://{url.netloc.decode()}{url.path}"

    def close(self) -> None:
        self._client.close()

    def ping(self) -> None:
        self._call("GET", f"{self.base_url}/ready")

    def _predict(self, rows: list[Row]) -> list[Any]:
        width = len(rows[0])
        tensor = {
            "name": self.input_name,
            "shape": [len(rows), width],
            "datatype": "FP64",
            "data": [v for row in rows for v in row],
        }
        answer = self._call("POST", f"{self.base_url}/infer", {"inputs": [tensor]}).json()
        return _rows_of(self._output(answer), len(rows))

    def _output(self, answer: Any) -> dict[str, Any]:
        outputs = answer.get("outputs") if isinstance(answer, dict) else None
        if not isinstance(outputs, list) or not outputs:
            raise TerminalError(f"model {self.describe()} answered without outputs")
        for output in outputs:
            if self.output_name is None or output.get("name") == self.output_name:
                return dict(output)
        raise TerminalError(f"model {self.describe()} has no output named {self.output_name!r}")

    def _call(self, method: str, url: str, body: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self._token.reveal()}"} if self._token else {}
        try:
            response = self._client.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(
                f"model {self.describe()} unreachable: {type(exc).__name__}"
            ) from None
        if response.status_code >= 300:
            after = retry_after_header(response.headers.get("retry-after"))
            raise status_error(self.describe(), response.status_code, response.text, after)
        return response


def _rows_of(output: dict[str, Any], count: int) -> list[Any]:
    data = list(output.get("data") or [])
    shape = list(output.get("shape") or [len(data)])
    if len(data) == count:
        return data
    if shape and shape[0] == count and len(data) % count == 0:
        width = len(data) // count
        return [data[i * width : (i + 1) * width] for i in range(count)]
    raise TerminalError(f"model output of shape {shape} does not have {count} rows")
