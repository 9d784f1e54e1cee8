"""Public HTTP side: ERC-1155 token metadata (credit classes and retirement certificates),
retirement certificates (HTML and JSON, printable), and the explorer page.

Pages are rendered on the server with Jinja2 templates (``bridge/templates``); charts are
inline SVG computed here, so there is no JavaScript to build. Absolute links use the
app's ``public_base_url`` when it is set, otherwise the URL the request came in on.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import select

from bridge.public import views
from bridge.public.qr import qr_svg
from bridge.public.views import (
    AdditionalityLevelPublic,
    AnnualReportPublic,
    CAStatusPublic,
    CertificatePublic,
    ClassPublic,
    LetterPublic,
    RetirementRow,
    SerialRangePublic,
    SupplyPublic,
    UseWithheldPublic,
)
from registry.api.deps import SessionDep
from registry.api.pagination import Paged, PageDep
from registry.api.problems import problem_responses
from registry.api.token_ids import token_id_of
from registry.domain.classes import CERTIFICATE_FLAG
from registry.errors import RegistryError
from registry.tables.core import Retirement

# Autoescape HTML and SVG alike: names, comments and beneficiaries come from users and the chain.
TEMPLATES = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=jinja2.select_autoescape(("html", "svg", "xml"), default_for_string=True, default=True),
))
SVG = "image/svg+xml"

_DESCRIPTIONS = {
    404: "Not found (unknown token id or retirement, or a certificate not yet synced)",
    409: "The certificate token id is ambiguous (the same on-chain retirement id on several chains)",
    422: "Invalid input (e.g. not a hexadecimal uint256)",
}

# OpenAPI entries for the problem+json errors a route can answer: problems(404, 422).
problems = partial(problem_responses, _DESCRIPTIONS)

router = APIRouter()


#: Host names whose requests may set the origin of absolute links when no public URL is
#: configured (``--public-url``): this machine's, and those ``ICR_ALLOWED_HOSTS`` adds
#: (comma-separated). Any other ``Host`` header could write its own origin into token metadata.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]", "testserver")
ALLOWED_HOSTS_ENV = "ICR_ALLOWED_HOSTS"


class UntrustedHost(RegistryError):
    status = 400
    type = "untrusted-host"


def base_url(request: Request) -> str:
    """The origin of absolute links: the configured public URL, else the request's own when its
    host is this machine's or an allowed one (never a stranger's ``Host`` header)."""
    configured = getattr(request.app.state, "public_base_url", None)
    if configured:
        return configured.rstrip("/")
    host = (request.url.hostname or "").lower()
    allowed = {*LOCAL_HOSTS, *(h.strip().lower() for h in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip())}
    if host not in allowed:
        raise UntrustedHost(f"links are not made for host {host!r}: start the server with --public-url, or add the "
                            f"host to {ALLOWED_HOSTS_ENV}", field="host", rule="trusted-host")
    return str(request.base_url).rstrip("/")


def chains_of(request: Request) -> dict[int, Any]:
    return getattr(request.app.state, "chains", {}) or {}


def certificate_of(session, retirement, request: Request) -> CertificatePublic:
    """A retirement's certificate with this app's absolute links and block-explorer template."""
    return views.certificate_view(session, retirement, base_url(request),
                                  getattr(request.app.state, "explorer_tx_url", None))


# --------------------------------------------------------------------------------------------
# Token metadata (EIP-1155 "ERC-1155 Metadata URI JSON Schema")
# --------------------------------------------------------------------------------------------


class ClassMetadataProperties(BaseModel):
    kind: Literal["credit_class"] = "credit_class"
    unit: Literal["tCO2e"] = "tCO2e"
    tonnes_per_token: Literal[1] = 1
    token_id: str
    project_number: int
    project_name: str
    host_country: str = Field(description="ISO 3166-1 alpha-3")
    methodology: str
    vintage: int
    serialization: str
    designation: str
    article6: bool
    letter_number: Optional[int]
    letter: Optional[LetterPublic]
    authorized_uses: list[str]
    uses_withheld: list[UseWithheldPublic]
    ca_status: CAStatusPublic
    additionality: Optional[list[AdditionalityLevelPublic]] = Field(
        description="additionality levels and their current status; null when the registry holds no record")
    serial_blocks: list[SerialRangePublic] = Field(description="custody serial blocks backing the tokens")
    serial_blocks_total: int = Field(description="number of merged ranges (the list is capped)")
    supply: SupplyPublic
    explorer_url: str


class CertificateMetadataProperties(BaseModel):
    kind: Literal["retirement_certificate"] = "retirement_certificate"
    soulbound: Literal[True] = True
    retirement_id: int
    onchain_retirement_id: int
    quantity: int
    unit: Literal["tCO2e"] = "tCO2e"
    serial_blocks: list[str]
    beneficiary_name: str
    purpose: str
    ca_status: str
    ca_label: str
    class_token_id: str
    project_name: str
    host_country: str
    vintage: int
    chain_id: Optional[int]
    tx_hash: Optional[str]
    block_number: Optional[int]
    ledger_entry_hash: Optional[str]
    certificate_url: str
    certificate_json_url: str


class MetadataAttribute(BaseModel):
    """An OpenSea-style trait: marketplaces list and filter tokens by them."""

    trait_type: str
    value: Union[str, int]
    display_type: Optional[Literal["number"]] = None


class TokenMetadata(BaseModel):
    """ERC-1155 metadata: ``name``, ``description``, ``image``, ``decimals`` and ``properties``,
    plus OpenSea-style ``attributes``."""

    name: str
    description: str
    image: str = Field(description="URI of an image/svg+xml picture of the token")
    external_url: str = Field(description="human-readable page about the token")
    decimals: int = Field(0, description="0: one token is one whole tonne")
    properties: Union[ClassMetadataProperties, CertificateMetadataProperties] = Field(discriminator="kind")
    attributes: list[MetadataAttribute] = Field(description="OpenSea-style traits (project, vintage, designation, ...)")


def _traits(*pairs: tuple[str, Any]) -> list[MetadataAttribute]:
    """Attributes from (trait, value) pairs, skipping empty values; integers are ``number`` traits."""
    return [MetadataAttribute(trait_type=trait, value=value, display_type="number" if isinstance(value, int) else None)
            for trait, value in pairs if value not in (None, "")]


def class_metadata(session, token_id: int, base: str, chains: dict[int, Any]) -> TokenMetadata:
    credit_class = views.class_by_token(session, token_id)
    view = views.class_view(session, credit_class, chains)
    blocks, total = views.backing_blocks(session, credit_class)
    hex_id = view.token_id_hex
    letter = f", letter of authorization {view.letter.number}" if view.letter else ""
    return TokenMetadata(
        name=f"ICC {view.project.name} {view.vintage}" + (" (Article 6.2)" if view.article6 else ""),
        description=(
            f"International Carbon Credits of ICR project {view.project.project_number} ({view.project.name}, "
            f"{view.project.host_country}), vintage {view.vintage}, {view.designation}{letter}. One token is one "
            "tonne of CO2-e, mirrored from serials held in bridge custody at the International Carbon Registry; "
            f"corresponding adjustment: {view.ca_status.label}."
        ),
        image=f"{base}/metadata/{hex_id}.svg",
        external_url=f"{base}/explorer#class-{hex_id}",
        decimals=0,
        properties=ClassMetadataProperties(
            token_id=view.token_id, project_number=view.project.project_number, project_name=view.project.name,
            host_country=view.project.host_country, methodology=view.project.methodology, vintage=view.vintage,
            serialization=view.serialization, designation=view.designation, article6=view.article6,
            letter_number=view.letter.number if view.letter else None, letter=view.letter,
            authorized_uses=view.authorized_uses, uses_withheld=view.uses_withheld, ca_status=view.ca_status,
            additionality=view.additionality,
            serial_blocks=blocks, serial_blocks_total=total, supply=view.supply,
            explorer_url=f"{base}/explorer#class-{hex_id}",
        ),
        attributes=_traits(
            ("Kind", "Credit class"), ("Project", view.project.name), ("ICR project number", view.project.project_number),
            ("Host country", view.project.host_country), ("Methodology", view.project.methodology),
            ("Vintage", view.vintage), ("Designation", view.designation),
            ("Letter of authorization", view.letter.number if view.letter else None),
            ("Corresponding adjustment", view.ca_status.label), ("Unit", "tCO2e"),
        ),
    )


def certificate_metadata(session, token_id: int, request: Request) -> TokenMetadata:
    retirement = views.retirement_for_certificate_token(session, token_id)
    cert = certificate_of(session, retirement, request)
    return TokenMetadata(
        name=f"ICC retirement certificate #{retirement.onchain_retirement_id}",
        description=(
            f"Non-transferable certificate of the retirement of {cert.quantity:,} tCO2e of ICR project "
            f"{cert.project.name} ({cert.project.host_country}), vintage {cert.vintage}, for "
            f"{cert.beneficiary_name or 'an unnamed beneficiary'} ({cert.purpose_label}). Registry retirement "
            f"{cert.retirement_id}."
        ),
        image=f"{base_url(request)}/certificates/{retirement.id}.svg",
        external_url=cert.links["html"],
        decimals=0,
        properties=CertificateMetadataProperties(
            retirement_id=retirement.id, onchain_retirement_id=retirement.onchain_retirement_id,
            quantity=cert.quantity, serial_blocks=[b.serial_block for b in cert.serial_blocks],
            beneficiary_name=cert.beneficiary_name, purpose=cert.purpose, ca_status=cert.ca_status.status,
            ca_label=cert.ca_status.label, class_token_id=cert.token_id, project_name=cert.project.name,
            host_country=cert.project.host_country, vintage=cert.vintage,
            chain_id=cert.chain.chain_id if cert.chain else None, tx_hash=cert.chain.tx_hash if cert.chain else None,
            block_number=cert.chain.block_number if cert.chain else None,
            ledger_entry_hash=cert.ledger_entry.entry_hash if cert.ledger_entry else None,
            certificate_url=cert.links["html"], certificate_json_url=cert.links["json"],
        ),
        attributes=_traits(
            ("Kind", "Retirement certificate"), ("Quantity (tCO2e)", cert.quantity), ("Beneficiary", cert.beneficiary_name),
            ("Purpose", cert.purpose_label), ("Project", cert.project.name), ("Host country", cert.project.host_country),
            ("Vintage", cert.vintage), ("Designation", cert.designation),
            ("Corresponding adjustment", cert.ca_status.label), ("Chain", cert.chain.chain_name if cert.chain else None),
        ),
    )


@router.get("/metadata/{hex_id}.json", tags=["metadata"], response_model=TokenMetadata,
            responses=problems(404, 409, 422))
def token_metadata(hex_id: str, request: Request, session: SessionDep) -> TokenMetadata:
    """ERC-1155 metadata JSON that ``uri(id)`` resolves to (``{id}`` = 64 lower-case hex digits).

    Credit class ids describe the class (project, vintage, Article 6.2 designation and letter,
    CA status with history, backing serial blocks, supply); certificate ids (bit 255 set)
    describe one retirement and link to its certificate."""
    token_id = token_id_of(hex_id, "id")
    if token_id & CERTIFICATE_FLAG:
        return certificate_metadata(session, token_id, request)
    return class_metadata(session, token_id, base_url(request), chains_of(request))


SVG_RESPONSE = {200: {"content": {SVG: {"schema": {"type": "string"}}}, "description": "An SVG picture"}}
HTML_RESPONSE = {200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "An HTML page"}}


@router.get("/metadata/{hex_id}.svg", tags=["metadata"], response_class=Response,
            responses={**SVG_RESPONSE, **problems(404, 409, 422)})
def token_image(hex_id: str, request: Request, session: SessionDep) -> Response:
    """The ``image`` of a token's metadata: a badge of the class (or of the certificate)."""
    token_id = token_id_of(hex_id, "id")
    if token_id & CERTIFICATE_FLAG:
        retirement = views.retirement_for_certificate_token(session, token_id)
        return certificate_image(retirement.id, request, session)
    view = views.class_view(session, views.class_by_token(session, token_id), chains_of(request))
    return TEMPLATES.TemplateResponse(request, "class_badge.svg", {"c": view}, media_type=SVG)


# --------------------------------------------------------------------------------------------
# Retirement certificates
# --------------------------------------------------------------------------------------------


@router.get("/certificates/{retirement_id}.json", tags=["certificates"], responses=problems(404, 422))
def certificate_json(retirement_id: int, request: Request, session: SessionDep) -> CertificatePublic:
    """A retirement certificate as JSON: serial ranges, beneficiary, purpose, CA status,
    project, transaction and block, and the registry ledger entry that recorded it."""
    return certificate_of(session, views.get_retirement(session, retirement_id), request)


@router.get("/certificates/{retirement_id}.svg", tags=["certificates"], response_class=Response,
            responses={**SVG_RESPONSE, **problems(404, 422)})
def certificate_image(retirement_id: int, request: Request, session: SessionDep) -> Response:
    """The picture of a certificate token."""
    cert = certificate_of(session, views.get_retirement(session, retirement_id), request)
    return TEMPLATES.TemplateResponse(request, "certificate_badge.svg", {"cert": cert}, media_type=SVG)


@router.get("/certificates/{retirement_id}", tags=["certificates"], response_class=HTMLResponse,
            responses={**HTML_RESPONSE, **problems(404, 422)})
def certificate_page(retirement_id: int, request: Request, session: SessionDep) -> HTMLResponse:
    """The printable retirement certificate (HTML with print styles)."""
    cert = certificate_of(session, views.get_retirement(session, retirement_id), request)
    return TEMPLATES.TemplateResponse(request, "certificate.html", {
        "cert": cert, "title": f"Retirement certificate {cert.retirement_id}", "qr": qr_svg(cert.verification_url)})


# --------------------------------------------------------------------------------------------
# Explorer
# --------------------------------------------------------------------------------------------


CHART_SERIES = (
    ("issued", "Issued", "issued"),
    ("retired_voluntary", "Retired: voluntary", "voluntary"),
    ("retired_corsia", "Retired: CORSIA", "corsia"),
    ("retired_ndc", "Retired: another party's NDC", "ndc"),
    ("retired_other_international", "Retired: other international", "other"),
    ("ca_pending", "CA pending", "ca-pending"),
    ("ca_applied", "CA applied", "ca-applied"),
    ("ca_not_applied", "No CA applied", "ca-not-applied"),
)


def report_chart(report: AnnualReportPublic, width: int = 640, bar_height: int = 14, gap: int = 4,
                 label_width: int = 190) -> dict[str, Any]:
    """Geometry of a horizontal bar chart of the report: one group of bars per host country."""
    values = [getattr(c, key) for c in report.countries for key, _, _ in CHART_SERIES]
    top = max(values, default=0) or 1
    plot = width - label_width - 70
    groups, y = [], 0
    for country in report.countries:
        bars = []
        group_top = y + 18
        for i, (key, label, css) in enumerate(CHART_SERIES):
            value = getattr(country, key)
            bar_y = group_top + i * (bar_height + gap)
            bars.append({"key": key, "label": label, "css": css, "value": value, "x": label_width, "y": bar_y,
                         "width": round(plot * value / top, 1), "height": bar_height})
        groups.append({"country": country.host_country, "y": y + 12, "bars": bars})
        y = group_top + len(CHART_SERIES) * (bar_height + gap) + 10
    return {"width": width, "height": max(y, 40), "groups": groups, "max": top}


@router.get("/explorer/classes", tags=["explorer"])
def explorer_classes(request: Request, session: SessionDep, page: PageDep) -> Paged[ClassPublic]:
    """Every credit class with its designation, CA status and custody vs on-chain supply."""
    classes = views.list_classes(session, chains_of(request))
    return page.answer(len(classes), page.window(classes))


@router.get("/explorer/retirements", tags=["explorer"], responses=problems(422))
def explorer_retirements(session: SessionDep, page: PageDep) -> Paged[RetirementRow]:
    """The most recent retirements, newest first."""
    total = session.exec(select(func.count()).select_from(Retirement)).one()
    return page.answer(total, views.recent_retirements(session, page.limit, page.offset))


@router.get("/explorer/annual-report", tags=["explorer"], responses=problems(422))
def explorer_annual_report(session: SessionDep,
                           year: Annotated[Optional[int], Query(ge=2000, le=2200)] = None) -> AnnualReportPublic:
    """The Article 6.2 annual report (seed 003 §III) for a year (default: the latest year with data)."""
    return views.annual_report_view(session, year)


@router.get("/explorer", tags=["explorer"], response_class=HTMLResponse,
            responses={**HTML_RESPONSE, **problems(422)})
def explorer_page(request: Request, session: SessionDep,
                  year: Annotated[Optional[int], Query(ge=2000, le=2200)] = None) -> HTMLResponse:
    """Server-rendered explorer: classes with custody vs supply and CA badges, recent
    retirements with their certificates, and the Article 6.2 annual report with a chart."""
    classes = views.list_classes(session, chains_of(request))
    report = views.annual_report_view(session, year)
    context = {
        "title": "ICR bridge explorer",
        "classes": classes,
        "retirements": views.recent_retirements(session, 20),
        "report": report,
        "chart": report_chart(report),
        "series": CHART_SERIES,
        "totals": {
            "in_custody": sum(c.supply.in_custody for c in classes),
            "onchain": sum(c.supply.onchain for c in classes),
            "retired": sum(c.supply.retired for c in classes),
        },
    }
    return TEMPLATES.TemplateResponse(request, "explorer.html", context)
