"""Activities 2 to 4, for a need that requires planning: the team meeting, the content plan, the Red Distrital."""

from __future__ import annotations

from sqlalchemy import select

from cvp import procedure as P
from cvp import state as S
from cvp.errors import Conflict, InvalidInput
from cvp.office.base import Desk
from cvp.records.models import Document


class Planning(Desk):
    def _add_document(
        self,
        need_id: int,
        activity: int,
        kind: str,
        data: dict,
        actor: str,
        template: str,
        action: str,
        summary: str,
        *,
        once: bool = True,
        step: str | None = None,
    ) -> Document:
        with self.session() as s:
            need = self.records.need(s, need_id, for_update=step is not None)
            if once:
                prev = s.scalar(select(Document).where(Document.need_id == need_id, Document.kind == kind))
                if prev is not None:
                    raise Conflict(
                        f"La necesidad n.º {need_id} ya tiene {summary.lower()} (registrado por {prev.author})."
                    )
            if step is not None:
                self.records.standing(s, need_id).require(step)
            rendered = self.renderer.render(template, necesidad=need, datos=data, autor=actor, fecha=self.records.now())
            doc = Document(
                need_id=need_id,
                activity=activity,
                kind=kind,
                data=data,
                rendered=rendered,
                author=actor,
                created_at=self.records.now(),
            )
            s.add(doc)
            s.flush()
            self.records.event(s, need_id, activity, action, actor, summary, documento=doc.id)
            return doc

    def record_meeting(self, need_id: int, actor: str, data: dict) -> Document:
        """Activity 2: the team meeting, recorded on form 208-SADM-Ft-54."""
        required = {
            "temas": "Temas a tratar",
            "fuentes": "Fuentes a consultar",
            "productos": "Productos a realizar",
            "canales": "Medios de difusión",
            "asistentes": "Asistentes",
        }
        errors = [f"«{label}» es obligatorio." for key, label in required.items() if not _filled(data.get(key))]
        if errors:
            raise InvalidInput("El registro de reunión está incompleto:", details=errors)
        return self._add_document(
            need_id,
            2,
            "registro_reunion",
            data,
            actor,
            "registros/registro_reunion.html.j2",
            "reunion_registrada",
            f"Registro de reunión {P.MEETING_FORM_CODE}",
            step=S.MEETING,
        )

    def record_content_plan(self, need_id: int, actor: str, data: dict) -> Document:
        """Activity 3: contents and actions agreed with the departments' liaisons."""
        errors = []
        if not _filled(data.get("contenidos")):
            errors.append("«Contenidos» es obligatorio: al menos un contenido con su acción.")
        if not _filled(data.get("enlaces")):
            errors.append("«Enlaces de las dependencias» es obligatorio.")
        if errors:
            raise InvalidInput("El plan de contenidos está incompleto:", details=errors)
        return self._add_document(
            need_id,
            3,
            "plan_contenidos",
            data,
            actor,
            "registros/plan_contenidos.html.j2",
            "plan_contenidos_registrado",
            "Plan de contenidos y acciones",
            step=S.PLAN,
        )

    def request_red_distrital(self, need_id: int) -> None:
        """Activity 4: the joint-action request to the Red Distrital, as a record and an e-mail."""
        with self.session() as s:
            need = self.records.need(s, need_id)
            if self.records.has_event(s, need_id, 4, "solicitud_red_distrital"):
                return
            plan = s.scalar(select(Document).where(Document.need_id == need_id, Document.kind == "plan_contenidos"))
            data = {"destinatario": self.cfg.red_distrital_email, "plan": plan.data if plan else {}}
            rendered = self.renderer.render("registros/solicitud_red_distrital.txt.j2", necesidad=need, datos=data)
            s.add(
                Document(
                    need_id=need_id,
                    activity=4,
                    kind="solicitud_red_distrital",
                    data=data,
                    rendered=rendered,
                    author=P.SYSTEM,
                    created_at=self.records.now(),
                )
            )
            self.outbox.queue(s, need, 4, "red", [self.cfg.red_distrital_email], "red_distrital", plan=data["plan"])
            self.records.event(
                s,
                need_id,
                4,
                "solicitud_red_distrital",
                P.SYSTEM,
                f"Solicitud de acciones conjuntas enviada a la Red Distrital ({self.cfg.red_distrital_email}).",
            )


def _filled(value) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple)):
        return any(_filled(v) for v in value)
    return value is not None and value != {}
