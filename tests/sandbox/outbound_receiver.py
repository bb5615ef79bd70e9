"""An endpoint on 127.0.0.1:0 for the sandbox's Salesforce Outbound Messages (no tests here)."""
from __future__ import annotations

import threading
import time

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from adapters.salesforce.webhooks import ACK


class Receiver:
    """Records every outbound message and answers with `replies` in turn (the last one from then on)."""

    def __init__(self, replies: list[str] | None = None, path: str = "/salesforce/outbound") -> None:
        self.replies, self.bodies = list(replies or [ACK]), []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        request = Request(environ)
        self.bodies.append(request.get_data())
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return Response(reply, content_type="text/xml")(environ, start_response)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.time() + timeout
        while len(self.bodies) < count and time.time() < deadline:
            time.sleep(0.02)
        return self.bodies
