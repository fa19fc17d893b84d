# One image for the four services and the CLI; the command picks the service. For users with Docker
# (docker-compose.yml); not built on the project's own machines, which have no Docker engine.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY deploy/constraints.txt deploy/constraints.txt
COPY shared shared
COPY services services
COPY cli cli
COPY deploy/demo deploy/demo
COPY deploy/keycloak deploy/keycloak
RUN pip install --no-cache-dir -c deploy/constraints.txt .
# The services never need root: a fixed, unprivileged uid (no login shell, no home to write) owns nothing in /app,
# so a compromised process can neither rewrite the code it runs nor act as root in the container.
RUN groupadd --system --gid 10001 postloan \
    && useradd --system --uid 10001 --gid postloan --no-create-home --shell /usr/sbin/nologin postloan
USER 10001:10001
ENV POSTLOAN_HTTP_HOST=0.0.0.0 POSTLOAN_LOG_JSON=true
CMD ["python", "-m", "services.requests"]
