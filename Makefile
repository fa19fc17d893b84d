# The two commands a new machine needs: `make up` runs the platform, `make test` runs the tests.
.PHONY: up up-detached down status test test-unit test-faults lint k8s-validate

# `make up CLUSTER=3`: three Kafka brokers instead of one (deploy/kafka.sh KAFKA_NODES; README "A three-broker
# cluster"). Only for the platform's targets: the tests start the brokers they need themselves.
ifdef CLUSTER
up up-detached down status: export KAFKA_NODES := $(CLUSTER)
endif

up:            ## Kafka (CLUSTER=3: three brokers), PostgreSQL, Keycloak, the services, Prometheus (PROMETHEUS=0: without) and demo data, in the foreground (Ctrl-C stops all)
	deploy/up.sh

up-detached:   ## the same, returning once everything is ready
	deploy/up.sh --detach

down:          ## stop services, Prometheus, Kafka, Keycloak and PostgreSQL
	deploy/down.sh

status:
	-deploy/kafka.sh status
	-deploy/postgres.sh status
	-deploy/keycloak.sh status
	-deploy/services.sh status
	-deploy/prometheus.sh status

test:          ## every test, against a real broker and database the tests start themselves
	deploy/test.sh

lint:          ## ruff and mypy (also the first step of `make test`)
	deploy/lint.sh

test-unit:     ## pure rules and contracts only: no broker, no database
	deploy/bootstrap.sh && deploy/prometheus.sh install && deploy/kustomize.sh install && .venv/bin/pytest tests/unit -q

k8s-validate:  ## render deploy/k8s's overlays with kustomize and validate every document offline (also a unit test)
	deploy/bootstrap.sh && deploy/kustomize.sh install && .venv/bin/python -m deploy.k8s.validate

test-faults:   ## faults under load alone: service copies killed, PostgreSQL restarted (also the last stage of `make test`)
	deploy/bootstrap.sh && .venv/bin/pytest tests/faults -q
