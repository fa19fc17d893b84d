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
ENV POSTLOAN_HTTP_HOST=0.0.0.0 POSTLOAN_LOG_JSON=true
CMD ["python", "-m", "services.requests"]
