# syntax=docker/dockerfile:1
# The image every Airflow service of docker-compose.yml runs: the official Airflow image extended
# with the runtime lock (requirements.txt, never the test tools) and the project in /opt/cvp.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11

# python-ldap has no Linux wheel on PyPI: build it here, against OpenLDAP's and SASL's headers, so
# the final image carries the wheel but not the compilers (the official image has the runtime libraries).
FROM ${AIRFLOW_IMAGE} AS ldap-wheel
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libldap2-dev libsasl2-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER airflow
COPY requirements.txt /tmp/requirements.txt
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels \
      "$(grep -E '^python-ldap==' /tmp/requirements.txt)"

FROM ${AIRFLOW_IMAGE}
USER root
# The project lives in /opt/cvp, read-only for the tasks; the scratch folder and the file archive
# are owned by the airflow user (uid 50000, gid 0, as in the official image), so the named volumes
# mounted there start writable. The secrets folder (volume cvp-secretos, init's initial passwords) is
# the airflow user's alone.
RUN mkdir -p /opt/cvp /opt/airflow/cvp /opt/airflow/cvp-archivo /opt/airflow/secretos \
 && chown -R 50000:0 /opt/airflow/cvp /opt/airflow/cvp-archivo /opt/airflow/secretos \
 && chmod -R g+rwX /opt/airflow/cvp /opt/airflow/cvp-archivo \
 && chmod 0700 /opt/airflow/secretos
USER airflow
COPY --from=ldap-wheel /tmp/wheels /tmp/wheels
COPY requirements.txt /opt/cvp/requirements.txt
# As the official docs extend the image: uv, with Airflow's own version pinned.
RUN uv pip install --no-cache --find-links /tmp/wheels \
      "apache-airflow==${AIRFLOW_VERSION}" -r /opt/cvp/requirements.txt
COPY pyproject.toml /opt/cvp/pyproject.toml
COPY src /opt/cvp/src
COPY plugins /opt/cvp/plugins
# The domain package and the Airflow side, built from a scratch copy (the build writes beside the
# sources): installed, cvp_airflow registers the project as a provider (entry point
# apache_airflow_provider: the channels' connection types); at run time PYTHONPATH puts the same
# /opt/cvp/plugins first.
RUN cp -r /opt/cvp /tmp/cvp-build \
 && uv pip install --no-cache --no-deps /tmp/cvp-build \
 && rm -rf /tmp/cvp-build
COPY dags /opt/cvp/dags
COPY include /opt/cvp/include
COPY docker/airflow-init.sh /opt/cvp/docker/airflow-init.sh
COPY docker/crear_equipo.py /opt/cvp/docker/crear_equipo.py

# The package is installed into site-packages, so the office's data files are named here.
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/cvp/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/cvp/plugins \
    PYTHONPATH=/opt/cvp/plugins \
    AIRFLOW__FAB__CONFIG_FILE=/opt/cvp/include/config/webserver_config.py \
    CVP_TEMPLATES_DIR=/opt/cvp/include/templates \
    CVP_TEAM_FILE=/opt/cvp/include/config/equipo.yml \
    CVP_CHECKS_DATA_DIR=/opt/cvp/include/checks \
    CVP_DATA_DIR=/opt/airflow/cvp \
    CVP_STORAGE_URL=file:///opt/airflow/cvp-archivo
