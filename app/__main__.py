"""`python -m app`: the API under uvicorn, with this project's socket and proxy settings.

Plain `uvicorn app.main:app` works too; this entry point adds what uvicorn's defaults lack:
permessage-deflate off (it costs ~40 KB of zlib state per idle socket and buys nothing for small
JSON frames), a hard frame cap, proxy headers trusted only from the configured addresses, and a
graceful SIGTERM: before uvicorn closes the sockets, every pending request gets its one answer.
"""

import gc
from socket import socket

import uvicorn
from setproctitle import setproctitle

from app.channels.socket import drain_sockets
from app.main import app
from app.settings import get_settings


class DrainingServer(uvicorn.Server):
    """uvicorn, but on shutdown it stops listening, then drains the sockets, then goes on as usual."""

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the old ones are answered
        services = getattr(app.state, "services", None)
        if services is not None:
            await drain_sockets(services.sockets, services.settings.reply_deadline_seconds + 1.0)
        await super().shutdown(sockets)


def main() -> None:
    setproctitle("persona-api")
    settings = get_settings()
    gc.freeze()  # import-time objects never die; keep the collector from re-scanning them
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_hard_max_bytes,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        access_log=settings.access_log,
        log_level=settings.log_level.lower(),
    )
    DrainingServer(config).run()


if __name__ == "__main__":
    main()
