# One image for every service of city-appeals; the command picks the service:
#   docker run --rm city-appeals                     -> appeals --help
#   docker run ... city-appeals serve routing        -> the routing worker
# docker-compose.yml builds it once and runs appeals, metrics, routing and notify from it.
# No broker or database lives in the image: production uses Apache Kafka and MongoDB.

# ---- build: turn the project and its dependencies into wheels (jieba ships only an sdist)
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN pip wheel --wheel-dir /wheels .

# ---- runtime: only the installed wheels, run as an unprivileged user
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 appeals \
    && useradd --system --uid 10001 --gid appeals --home-dir /home/appeals --create-home appeals
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels city-appeals \
    && rm -rf /wheels
USER appeals
WORKDIR /home/appeals
EXPOSE 8000 8001 8002 8003
ENTRYPOINT ["appeals"]
CMD ["--help"]
