"""Tableau REST API pieces of the fake: sign-in bodies, error bodies, list pages, in XML or JSON.

XML is what Tableau sends by default (namespace http://tableau.com/api); JSON when the request's Accept header asks
for application/json. JSON follows Tableau's mapping of its XML: attributes become keys, a list element becomes
{"project": [...]}, and pagination values are strings.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

API_NS = "http://tableau.com/api"
PRODUCT_VERSION = "2024.2.0"
PRODUCT_BUILD = "20242.24.0807.0327"
REST_API_VERSION = "3.23"


class RestError(Exception):
    def __init__(self, status: int, code: str, summary: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.summary, self.detail = status, code, summary, detail


def wants_json(headers) -> bool:
    return "application/json" in (headers.get("Accept") or "").lower()


def _attrs(d: dict) -> str:
    return "".join(f" {k}={quoteattr(str(v))}" for k, v in d.items() if v is not None and not isinstance(v, dict))


def _xml_element(tag: str, d: dict) -> str:
    children = "".join(_xml_element(k, v) for k, v in d.items() if isinstance(v, dict))
    lists = ""
    for k, v in d.items():
        if isinstance(v, list):  # e.g. tags: [{"label": …}] -> <tags><tag label=…/></tags>
            lists += f"<{k}>" + "".join(_xml_element(k[:-1], x) for x in v) + f"</{k}>"
    inner = children + lists
    attrs = {k: v for k, v in d.items() if not isinstance(v, (dict, list))}
    return f"<{tag}{_attrs(attrs)}/>" if not inner else f"<{tag}{_attrs(attrs)}>{inner}</{tag}>"


def _json_value(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, dict):
            out[k] = _json_value(v)
        elif isinstance(v, list):
            out[k] = {k[:-1]: [_json_value(x) for x in v]}
        else:
            out[k] = v if isinstance(v, (bool, int, float)) else str(v)
    return out


def render(as_json: bool, body: dict) -> tuple[bytes, str]:
    """body: {"tag": {...}} or {"tag": {...}, "pagination": {...}} with plural list tags -> [items]."""
    if as_json:
        out = {}
        for tag, v in body.items():
            if isinstance(v, list):
                out[tag] = {tag[:-1]: [_json_value(x) for x in v]}
            else:
                out[tag] = _json_value(v)
        return json.dumps(out, ensure_ascii=False).encode("utf-8"), "application/json;charset=UTF-8"
    parts = []
    for tag, v in body.items():
        if isinstance(v, list):
            parts.append(f"<{tag}>" + "".join(_xml_element(tag[:-1], x) for x in v) + f"</{tag}>")
        else:
            parts.append(_xml_element(tag, v))
    xml = (f'<?xml version=\'1.0\' encoding=\'UTF-8\'?><tsResponse xmlns="{API_NS}" '
           f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           f'xsi:schemaLocation="{API_NS} https://help.tableau.com/samples/en-us/rest_api/ts-api_3_23.xsd">'
           + "".join(parts) + "</tsResponse>")
    return xml.encode("utf-8"), "application/xml;charset=UTF-8"


def render_error(as_json: bool, e: RestError) -> tuple[bytes, str]:
    if as_json:
        return (json.dumps({"error": {"summary": e.summary, "detail": e.detail, "code": e.code}}).encode(),
                "application/json;charset=UTF-8")
    xml = (f'<?xml version=\'1.0\' encoding=\'UTF-8\'?><tsResponse xmlns="{API_NS}">'
           f'<error code="{e.code}"><summary>{escape(e.summary)}</summary><detail>{escape(e.detail)}</detail>'
           f"</error></tsResponse>")
    return xml.encode("utf-8"), "application/xml;charset=UTF-8"


def parse_signin(body: bytes, content_type: str) -> tuple[str, str, str]:
    """(PAT name, PAT secret, site contentUrl) from an XML or JSON sign-in request."""
    text = body.decode("utf-8", "replace").strip()
    try:
        if text.startswith("{") or "json" in (content_type or "").lower():
            c = json.loads(text)["credentials"]
            return (c.get("personalAccessTokenName") or "", c.get("personalAccessTokenSecret") or "",
                    (c.get("site") or {}).get("contentUrl") or "")
        root = ET.fromstring(text)
        cred = root.find("credentials") if root.tag == "tsRequest" else None
        if cred is None:
            raise ValueError("no tsRequest/credentials")
        site = cred.find("site")
        return (cred.get("personalAccessTokenName") or "", cred.get("personalAccessTokenSecret") or "",
                (site.get("contentUrl") if site is not None else "") or "")
    except (ValueError, KeyError, TypeError, AttributeError, ET.ParseError) as e:
        raise RestError(400, "400000", "Bad Request", f"Payload is either malformed or incomplete ({e})") from None


def page_args(query: dict) -> tuple[int, int]:
    """(pageSize, pageNumber) from a list request; 400 as Tableau answers for values out of range."""
    try:
        size = int(query.get("pageSize", 100))
    except ValueError:
        size = -1
    if not 1 <= size <= 1000:
        raise RestError(400, "400006", "Bad Request",
                        f"The page size '{query.get('pageSize')}' is not valid. Page size must be between 1 and 1000.")
    try:
        number = int(query.get("pageNumber", 1))
    except ValueError:
        number = -1
    if number < 1:
        raise RestError(400, "400006", "Bad Request",
                        f"The page number '{query.get('pageNumber')}' is not valid. Page number must be 1 or more.")
    return size, number


def paginate(items: list, size: int, number: int) -> tuple[list, dict]:
    start = (number - 1) * size
    return items[start:start + size], {"pageNumber": str(number), "pageSize": str(size),
                                       "totalAvailable": str(len(items))}


# --- items as Tableau lists them -----------------------------------------------------------------------------------

def project_item(p: dict, users: dict) -> dict:
    owner = users.get(p.get("owner"))
    return {"id": p["id"], "name": p["name"], "description": p.get("description") or "",
            "createdAt": p["createdAt"], "updatedAt": p["updatedAt"],
            "contentPermissions": p["contentPermissions"], "parentProjectId": p.get("parent"),
            "owner": {"id": owner["id"]} if owner else None}


def workbook_item(w: dict, store) -> dict:
    owner = store.node(w["ownerId"])
    return {"id": w["luid"], "name": w["name"], "description": w.get("description") or "",
            "contentUrl": w.get("contentUrl"), "webpageUrl": f"https://tableau.example.test/#/workbooks/{w['luid']}",
            "showTabs": "true", "size": "1", "createdAt": w["createdAt"], "updatedAt": w["updatedAt"],
            "encryptExtracts": "false", "project": {"id": w["projectLuid"], "name": w["projectName"]},
            "owner": {"id": owner["luid"]} if owner else None,
            "tags": [{"label": t["name"]} for t in w.get("tags") or []]}


def datasource_item(d: dict, store) -> dict:
    owner = store.node(d["ownerId"])
    return {"id": d["luid"], "name": d["name"], "description": d.get("description") or "",
            "contentUrl": d["luid"][:8], "type": "postgres", "createdAt": d["createdAt"], "updatedAt": d["updatedAt"],
            "isCertified": "true" if d.get("isCertified") else "false",
            "certificationNote": d.get("certificationNote"), "hasExtracts": "true" if d.get("hasExtracts") else "false",
            "encryptExtracts": "false", "project": {"id": d["projectLuid"], "name": d["projectName"]},
            "owner": {"id": owner["luid"]} if owner else None,
            "tags": [{"label": t["name"]} for t in d.get("tags") or []]}


def user_item(u: dict) -> dict:
    return {"id": u["id"], "name": u["name"], "fullName": u.get("fullName"), "email": u.get("email"),
            "siteRole": u.get("siteRole"), "authSetting": "ServerDefault", "lastLogin": "2024-06-01T00:00:00Z"}
