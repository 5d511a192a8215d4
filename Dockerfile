# One image for every production process: `capstan api`, `capstan worker`, `capstan migrate`.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY capstan capstan
COPY api api
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY models models
RUN pip install --no-cache-dir .
RUN useradd --create-home capstan
USER capstan
ENV CAPSTAN_API_HOST=0.0.0.0 CAPSTAN_GIT_CACHE_DIR=/home/capstan/git-cache
ENTRYPOINT ["capstan"]
