"""The demo store: a small HTTP API (orders, customers, leads, tickets) standing in for a tenant's
own systems, so the demo tenant's HTTP tools make real HTTP calls.

It is a separate ASGI app: the tools' HTTP client reaches it in process at the reserved origin
``http://demo-store.internal``, and the platform can mount it (e.g. under ``/demo-store``) for
people to look at. POSTs honour ``Idempotency-Key``: a repeated key returns the first answer.
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi import FastAPI, Header, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from aiaas.kit.clock import utcnow

ORDERS: dict[str, dict[str, Any]] = {
    "A-12345": {"status": "shipped", "carrier": "UPS", "eta": "2026-12-02",
                "tracking_url": "https://track.example/1Z999A-12345", "customer_id": "C-1001",
                "items": [{"sku": "TENT-2P", "name": "Ridgeline 2P tent", "quantity": 1}]},
    "A-10001": {"status": "processing", "eta": "2026-12-05", "customer_id": "C-1002",
                "items": [{"sku": "PACK-45", "name": "Summit 45L backpack", "quantity": 1}]},
    "A-20002": {"status": "delivered", "carrier": "FedEx", "eta": "2026-11-20",
                "customer_id": "C-1001", "items": [{"sku": "STOVE-1", "name": "Trail stove",
                                                     "quantity": 2}]},
}  # fmt: skip
CUSTOMERS: dict[str, dict[str, Any]] = {
    "C-1001": {"name": "Jordan Lee", "email": "jordan@example.com", "tier": "gold"},
    "C-1002": {"name": "Sam Rivera", "email": "sam@example.com", "tier": "standard"},
}


class LeadIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    company: str = Field("", max_length=200)
    message: str = Field("", max_length=20_000)
    source: str = Field("api", max_length=40)


class TicketIn(BaseModel):
    subject: str = Field(min_length=1, max_length=500)
    description: str = Field("", max_length=20_000)
    priority: str = Field("normal", pattern="^(low|normal|high|urgent)$")
    order_id: str = Field("", max_length=40)


class DemoStore:
    """The store's state (in memory) and its ASGI app."""

    def __init__(self) -> None:
        self.leads: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.replies: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(1001)
        self.app = self._build()

    def _remember(self, key: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if key:
            self.replies[key] = body
        return body

    def _build(self) -> FastAPI:
        app = FastAPI(title="Demo store", docs_url=None, redoc_url=None, openapi_url=None)

        @app.get("/orders/{order_id}")
        async def order(order_id: str) -> JSONResponse:
            found = ORDERS.get(order_id.upper())
            if found is None:
                return JSONResponse({"found": False, "order_id": order_id}, status_code=404)
            return JSONResponse({"found": True, "order_id": order_id.upper(), **found})

        @app.get("/customers/{customer_id}")
        async def customer(customer_id: str) -> JSONResponse:
            found = CUSTOMERS.get(customer_id.upper())
            if found is None:
                return JSONResponse({"found": False}, status_code=404)
            return JSONResponse({"found": True, "id": customer_id.upper(), **found})

        @app.post("/leads", status_code=201)
        async def create_lead(
            body: LeadIn, idempotency_key: str | None = Header(None)
        ) -> dict[str, Any]:
            if idempotency_key and idempotency_key in self.replies:
                return self.replies[idempotency_key]
            lead_id = f"L-{next(self._numbers)}"
            lead = {"id": lead_id, "status": "new", "created_at": utcnow().isoformat(),
                    **body.model_dump()}  # fmt: skip
            self.leads[lead_id] = lead
            return self._remember(idempotency_key, {"id": lead_id, "status": "new"})

        @app.get("/leads")
        async def leads() -> dict[str, Any]:
            return {"items": list(self.leads.values())}

        @app.delete("/leads/{lead_id}")
        async def delete_lead(lead_id: str) -> Response:
            if self.leads.pop(lead_id, None) is None:
                return JSONResponse({"deleted": False}, status_code=404)
            return JSONResponse({"deleted": True, "id": lead_id})

        @app.post("/tickets", status_code=201)
        async def create_ticket(
            body: TicketIn, idempotency_key: str | None = Header(None)
        ) -> dict[str, Any]:
            if idempotency_key and idempotency_key in self.replies:
                return self.replies[idempotency_key]
            ticket_id = f"T-{next(self._numbers)}"
            self.tickets[ticket_id] = {"id": ticket_id, "status": "open", **body.model_dump()}
            return self._remember(
                idempotency_key, {"id": ticket_id, "status": "open", "priority": body.priority}
            )

        @app.delete("/tickets/{ticket_id}")
        async def cancel_ticket(ticket_id: str) -> Response:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                return JSONResponse({"cancelled": False}, status_code=404)
            ticket["status"] = "cancelled"
            return JSONResponse({"cancelled": True, "id": ticket_id})

        return app
