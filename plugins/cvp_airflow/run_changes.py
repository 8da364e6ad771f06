"""A need's run changed from Airflow itself (marked, cleared, deleted, or its tasks): refused or recorded.

Airflow's UI and REST API let anyone Airflow allows mark a run failed or successful, clear it, delete it,
or change its task instances; the procedure's records must then say what happened to the need and who
did it (Ley 1712), and only the head (or whoever the team file lets open needs) may do it at all.
``RunGuard`` is an ASGI middleware of the api-server (cvp_plugin.py, ``fastapi_root_middlewares``)
that, for the routes of Airflow's REST API that change the ``necesidad_comunicacion`` DAG's runs:

1. finds who is asking the way Airflow does (``Authorization: Bearer`` first, then the user Airflow's
   own JWT middleware put in the request, then the ``_token`` cookie); without a valid login the request
   goes on untouched and Airflow refuses it;
2. refuses anyone else than the head with 403 and a Spanish ``detail``, before Airflow does anything;
3. after a successful (2xx) response, writes one event per run changed into its need's history
   (``Office.record_run_change``). A failure to record is logged and never breaks Airflow's answer.

Every other request costs one method and one prefix check. Dry runs and note-only changes pass.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

log = logging.getLogger(__name__)
DAG_ID = "necesidad_comunicacion"
PREFIX = "/api/v2/dags/"
UNSAFE = frozenset({"POST", "PATCH", "PUT", "DELETE"})
RESPONSE_LIMIT = 8 * 1024 * 1024  # responses read for the runs a clear touched (bigger ones are not parsed)

# A change: (run_id, outcome, tasks), as Office.record_run_change takes them.
Change = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Target:
    """Which of Airflow's run-changing routes a request is, and on what."""

    route: str
    dag_id: str
    run_id: str | None = None
    task_id: str | None = None


def match(method: str, path: str, root_path: str = "") -> Target | None:
    """The run-changing route of the communication-need DAG (or of ``~``, any DAG) ``path`` is, if any."""
    if method not in UNSAFE:
        return None
    at = path.find(PREFIX)
    if at < 0 or (at and path[:at] != root_path.rstrip("/")):
        return None
    dag_id, _, rest = path[at + len(PREFIX) :].partition("/")
    if dag_id not in (DAG_ID, "~"):
        return None
    parts = [p for p in rest.split("/") if p] if rest else []
    if parts and parts[-1] == "dry_run":
        return None
    n = len(parts)
    if n == 0:
        return Target("dag_delete", dag_id) if method == "DELETE" and dag_id == DAG_ID else None
    if parts == ["clearDagRuns"] and method == "POST":
        return Target("runs_clear", dag_id)
    if parts == ["clearTaskInstances"] and method == "POST":
        return Target("tis_clear", dag_id)
    if parts[0] != "dagRuns":
        return None
    if n == 1:
        return Target("runs_bulk", dag_id) if method == "PATCH" else None  # POST is a trigger (activity 1)
    run_id = parts[1]
    if n == 2:
        route = {"PATCH": "run_patch", "DELETE": "run_delete"}.get(method)
        return Target(route, dag_id, run_id) if route else None
    if n == 3 and parts[2] == "clear" and method == "POST":
        return Target("run_clear", dag_id, run_id)
    if parts[2] == "taskInstances":
        if n == 3 and method == "PATCH":
            return Target("tis_bulk", dag_id, run_id)
        if n in (4, 5) and method in ("PATCH", "DELETE"):
            return Target("ti_patch" if method == "PATCH" else "ti_delete", dag_id, run_id, parts[3])
    if parts[2] == "taskGroupInstances" and n == 4 and method == "PATCH":
        return Target("group_patch", dag_id, run_id, parts[3])
    return None


def _ours(entity: dict, default_dag: str) -> bool:
    return (entity.get("dag_id") or default_dag) == DAG_ID


def is_change(target: Target, body, query: str = "") -> bool:
    """Whether the request really changes a need's run (not a dry run, not a note, not another DAG)."""
    route = target.route
    if route in ("run_delete", "ti_delete", "dag_delete"):
        return target.dag_id == DAG_ID
    if not isinstance(body, dict):
        return False  # Airflow refuses a body it cannot read; nothing changes
    if route in ("run_clear", "runs_clear", "tis_clear"):
        if body.get("dry_run", True) is not False:
            return False
        if target.dag_id == DAG_ID:
            return True
        return any(isinstance(r, dict) and r.get("dag_id") == DAG_ID for r in body.get("dag_runs") or ())
    if route == "run_patch":
        mask = parse_qs(query).get("update_mask")
        return target.dag_id == DAG_ID and body.get("state") is not None and (not mask or "state" in mask)
    if route in ("ti_patch", "group_patch"):
        return target.dag_id == DAG_ID and body.get("new_state") is not None
    if route in ("runs_bulk", "tis_bulk"):
        for action in body.get("actions") or ():
            entities = action.get("entities") if isinstance(action, dict) else None
            for entity in entities or ():
                if isinstance(entity, dict) and _ours(entity, target.dag_id):
                    return True
                if isinstance(entity, str) and target.dag_id == DAG_ID:
                    return True
        return False
    return False


def changes(target: Target, body, response) -> list[Change]:
    """The runs a successful request changed, and how (from its path, its body and Airflow's answer)."""
    body = body if isinstance(body, dict) else {}
    route, run = target.route, target.run_id
    if route == "run_patch":
        return [(run, str(body["state"]), ())]
    if route == "run_delete":
        return [(run, "deleted", ())]
    if route == "run_clear":
        return [(run, "cleared", ())]
    if route in ("ti_patch", "group_patch"):
        return [(run, str(body["new_state"]).lower(), (target.task_id,))]
    if route == "ti_delete":
        return [(run, "deleted", (target.task_id,))]
    if route == "runs_clear":
        runs = _from_response(response, "dag_runs") or [
            r for r in body.get("dag_runs") or () if isinstance(r, dict) and _ours(r, target.dag_id)
        ]
        return [(r["dag_run_id"], "cleared", ()) for r in _unique_runs(runs)]
    if route == "tis_clear":
        cleared = _from_response(response, "task_instances")
        if cleared:
            tasks_of: dict[str, list[str]] = {}
            for ti in cleared:
                tasks = tasks_of.setdefault(ti["dag_run_id"], [])
                if ti.get("task_id") and ti["task_id"] not in tasks:
                    tasks.append(ti["task_id"])
            return [(r, "cleared", tuple(t)) for r, t in tasks_of.items()]
        if body.get("dag_run_id") and target.dag_id == DAG_ID:
            names = tuple(t if isinstance(t, str) else str(t[0]) for t in body.get("task_ids") or ())
            return [(body["dag_run_id"], "cleared", names)]
        return []
    if route in ("runs_bulk", "tis_bulk"):
        return _bulk(target, body, response)
    return []


def _from_response(response, key: str) -> list[dict]:
    items = response.get(key) if isinstance(response, dict) else None
    return [i for i in items or () if isinstance(i, dict) and i.get("dag_id") == DAG_ID and i.get("dag_run_id")]


def _unique_runs(runs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in runs:
        if r.get("dag_run_id") and r["dag_run_id"] not in seen:
            seen.add(r["dag_run_id"])
            out.append(r)
    return out


def _succeeded(response, kind) -> set[str] | None:
    """The keys Airflow's bulk answer lists as done for ``kind`` (None: the answer says nothing readable)."""
    part = response.get(kind) if isinstance(response, dict) and isinstance(kind, str) else None
    if not isinstance(part, dict) or not isinstance(part.get("success"), list):
        return None
    return {k for k in part["success"] if isinstance(k, str)}


def _bulk(target: Target, body: dict, response=None) -> list[Change]:
    """Each entity of a bulk request that Airflow reports done (all of them when its answer is unreadable)."""
    out: list[Change] = []
    tis = target.route == "tis_bulk"
    for action in body.get("actions") or ():
        if not isinstance(action, dict):
            continue
        kind = action.get("action")
        done = _succeeded(response, kind)
        for entity in action.get("entities") or ():
            if isinstance(entity, str):
                if kind == "delete" and target.dag_id == DAG_ID:
                    change = (target.run_id, "deleted", (entity,)) if tis else (entity, "deleted", ())
                    if _reported_done(change, done, tis):
                        out.append(change)
                continue
            if not isinstance(entity, dict) or not _ours(entity, target.dag_id):
                continue
            run = entity.get("dag_run_id") or target.run_id
            if not run or run == "~":
                continue
            state = entity.get("new_state" if tis else "state")
            outcome = "deleted" if kind == "delete" else (str(state).lower() if state else None)
            change = (run, outcome, (entity["task_id"],) if tis and entity.get("task_id") else ())
            if outcome and _reported_done(change, done, tis):
                out.append(change)
    return out


def _reported_done(change: Change, done: set[str] | None, tis: bool) -> bool:
    """Whether Airflow's bulk answer lists ``change`` among the successes (``dag.run`` or ``dag.run.task[i]``)."""
    if done is None:
        return True
    run, _, tasks = change
    if not tis or not tasks:
        return f"{DAG_ID}.{run}" in done
    return any(key.startswith(f"{DAG_ID}.{run}.{tasks[0]}[") for key in done)


# --- who is asking -------------------------------------------------------------------------------


async def _user_of_token(token: str) -> str:
    """The Airflow user a JWT names, validated by Airflow's auth manager (raises if it is not valid)."""
    from airflow.api_fastapi.app import get_auth_manager

    return (await get_auth_manager().get_user_from_token(token)).get_name()


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}


async def who_asks(scope) -> str | None:
    """The Airflow user of the request, in the order ``airflow.api_fastapi.core_api.security.get_user`` uses."""
    headers = _headers(scope)
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else ""
    if not token:
        state = scope.get("state") or {}
        user = state.get("user")
        if user is not None:
            try:
                from airflow.api_fastapi.core_api.security import USER_INJECTED_BY_TRUSTED_MIDDLEWARE
            except ImportError:  # pragma: no cover - always there in Airflow 3.3
                USER_INJECTED_BY_TRUSTED_MIDDLEWARE = None
            if state.get("user_authenticated_via") is USER_INJECTED_BY_TRUSTED_MIDDLEWARE:
                return user.get_name()
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header: no login here, Airflow answers
            return None
        token = cookie["_token"].value if "_token" in cookie else ""
    if not token:
        return None
    try:
        return await _user_of_token(token)
    except Exception:  # noqa: BLE001 - expired, invalid or revoked: Airflow refuses it on its own
        return None


# --- the records -----------------------------------------------------------------------------------


def _office():
    from cvp_airflow.web.services import get_office

    return get_office()


def check(actor: str) -> None:
    """Raise ``PermissionDenied`` (Spanish) unless ``actor`` may change a need's run."""
    _office().check_run_changer(actor)


def record(found: list[Change], actor: str) -> None:
    """Write each change into its need's history; never raises (Airflow already answered)."""
    for run_id, outcome, tasks in found:
        try:
            need = _office().record_run_change(run_id, outcome, actor, tasks)
            if need is not None:
                log.info("Necesidad %s: %s cambió su ejecución (%s %s) desde Airflow", need.id, actor, outcome, tasks)
        except Exception:  # noqa: BLE001 - never break Airflow's own request
            log.exception(
                "No se pudo registrar en la necesidad el cambio de la ejecución %s hecho por %s desde Airflow",
                run_id,
                actor,
            )


# --- the middleware ------------------------------------------------------------------------------

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class RunGuard:
    """ASGI middleware: only the head changes a need's run from Airflow, and every change is recorded."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") not in UNSAFE:
            await self.app(scope, receive, send)
            return
        target = match(scope["method"], scope.get("path", ""), scope.get("root_path", ""))
        if target is None:
            await self.app(scope, receive, send)
            return
        raw, receive = await _buffered(receive)
        if target.dag_id == "~" and DAG_ID.encode() not in raw:
            await self.app(scope, receive, send)
            return
        body = _json(raw)
        if not is_change(target, body, scope.get("query_string", b"").decode("latin-1")):
            await self.app(scope, receive, send)
            return
        actor = await who_asks(scope)
        if actor is None:
            await self.app(scope, receive, send)  # no valid login: Airflow answers 401/403 itself
            return
        refusal = await self._refusal(actor)
        if refusal is not None:
            status, detail = refusal
            log.warning("Cambio de ejecución rechazado: %s pidió %s %s", actor, scope["method"], scope.get("path"))
            await _answer(send, status, detail)
            return
        status, response = await self._forward(scope, receive, send, target)
        if 200 <= status < 300:
            try:
                found = changes(target, body, _json(response))
            except Exception:  # noqa: BLE001 - never break Airflow's own request
                log.exception("No se pudo leer qué cambió la solicitud %s %s", scope["method"], scope.get("path"))
                return
            if found:
                await asyncio.to_thread(record, found, actor)

    @staticmethod
    async def _refusal(actor: str) -> tuple[int, str] | None:
        from cvp.errors import PermissionDenied

        try:
            await asyncio.to_thread(check, actor)
        except PermissionDenied as exc:
            return 403, str(exc)
        except Exception:  # noqa: BLE001 - the team could not be read: nothing is changed unchecked
            log.exception("No se pudo comprobar si %s puede cambiar la ejecución de una necesidad", actor)
            return 503, (
                "No se pudo comprobar en el equipo de la OAC quién puede cambiar la ejecución de una "
                "necesidad: no se cambió nada. Inténtelo de nuevo en un momento."
            )
        return None

    async def _forward(self, scope, receive: Receive, send: Send, target: Target) -> tuple[int, bytes]:
        """Pass the request to Airflow; its status, and its body when the changed runs are read from it."""
        keep = target.route in ("runs_clear", "tis_clear", "runs_bulk", "tis_bulk")
        status = 0
        chunks: list[bytes] = []
        size = 0

        async def watch(message: dict) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif keep and message["type"] == "http.response.body" and size <= RESPONSE_LIMIT:
                chunk = message.get("body", b"")
                size += len(chunk)
                chunks.append(chunk)
            await send(message)

        await self.app(scope, receive, watch)
        return status, (b"".join(chunks) if size <= RESPONSE_LIMIT else b"")


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a ``receive`` that gives it again to Airflow."""
    chunks: list[bytes] = []
    left = None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            left = message  # the client left; Airflow is told the same
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return left or {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return raw, replay


def _json(raw: bytes):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def _answer(send: Send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
