"""Every HTTP response gets X-Request-ID and X-API-Version; request bodies are bounded.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses and WebSockets pass untouched.
"""

import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_VERSION = "1.0.0"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-request-id", request_id.encode()), (b"x-api-version", API_VERSION.encode())]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(request_id, send_with_headers)
            return

        received = 0
        refused = False  # the body went over the limit: 413 was sent, the app's answer is dropped

        async def bounded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Answered here, not by raising: FastAPI turns an error while reading the body
                    # into 400, and a chunked body (no Content-Length) only shows its size here.
                    refused = True
                    await self._too_large(request_id, send_with_headers)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send_with_headers(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not refused:  # the app gave up on the disconnected body; the 413 already answered
                raise

    async def _too_large(self, request_id: str, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "payload_too_large",
                    "message": f"body over {self.max_body_bytes} bytes",
                    "request_id": request_id,
                }
            }
        ).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
