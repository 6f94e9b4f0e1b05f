"""`python -m app`: the API under uvicorn, with this project's socket and proxy settings.

Plain `uvicorn app.main:app` works too; this entry point adds what uvicorn's defaults lack:
permessage-deflate off (it costs ~40 KB of zlib state per idle socket and buys nothing for small
JSON frames), a hard frame cap, and proxy headers trusted only from the configured addresses.
"""

import gc

import uvicorn

from app.settings import get_settings


def main() -> None:
    settings = get_settings()
    gc.freeze()  # import-time objects never die; keep the collector from re-scanning them
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_hard_max_bytes,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        access_log=settings.access_log,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
