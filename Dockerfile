# Image for docker-compose.yml: Airflow 3.3 with the project's pinned lock and domain package.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 AIRFLOW_HOME=/opt/airflow
RUN useradd --create-home --home-dir /opt/airflow airflow
WORKDIR /opt/cvp
COPY requirements.txt pyproject.toml ./
RUN pip install uv==0.13.8 && uv pip install --system -r requirements.txt
COPY src ./src
RUN uv pip install --system --no-deps -e .
COPY dags ./dags
COPY plugins ./plugins
COPY include ./include
USER airflow
