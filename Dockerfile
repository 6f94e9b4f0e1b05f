# One image for the API (`python -m app`) and the workers (`python -m worker`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv
RUN useradd --create-home --uid 10001 persona

# Dependencies first: this layer is rebuilt only when the lock changes. Every package is pinned
# with its hashes (scripts/lock.sh), so the image installs exactly what the tests ran on.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY app ./app
COPY worker ./worker
COPY config ./config

USER 10001
ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v1/meta/ready', timeout=2)"]
CMD ["python", "-m", "app"]
