"""QuickBooks Online JSON checked against Intuit's official XSDs (``tests/specs/quickbooks``).

QBO's JSON uses the XSD's element names and nesting; XML attributes become JSON keys (``domain``, ``sparse``,
``status`` on entities, ``code``/``element`` on ``Fault.Error[]``, ``time`` on the envelope, ``bId`` on batch
items) and a simple-content element with attributes (``ReferenceType``) becomes ``{"value": …, "name": …}``.
:func:`to_xml` walks a JSON body alongside the schema and builds the XML document the same data would be, in the
schema's element order; :func:`problems` then lets ``xmlschema`` validate it. A JSON key the schema does not
know at that place is a problem too, so a sandbox cannot invent fields.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree as ET

import xmlschema
from specs import specs_dir

NS = "http://schema.intuit.com/finance/v3"


@functools.lru_cache(maxsize=1)
def schema() -> xmlschema.XMLSchema:
    """The response/request envelope schema (it includes Finance.xsd, the base and names types and Report.xsd)."""
    return xmlschema.XMLSchema(str(specs_dir("quickbooks") / "IntuitRestServiceDef.xsd"))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _children(xsd_type: Any) -> dict[str, Any]:
    """Local name -> element declaration for every element the type's content model allows, substitution group
    members (``IntuitObject`` -> Invoice, Customer, …) included."""
    out: dict[str, Any] = {}
    content = getattr(xsd_type, "content", None)
    if content is None or not hasattr(content, "iter_elements"):
        return out
    groups = schema().substitution_groups
    for order, element in enumerate(content.iter_elements()):
        candidates = [element, *sorted(groups.get(element.local_name, ()), key=lambda e: e.local_name)]
        for candidate in candidates:
            out.setdefault(candidate.local_name, (order, candidate))
    return out


def _build(parent: ET.Element | None, name: str, element: Any, value: Any, path: str, errors: list[str]) -> ET.Element:
    node = ET.Element(f"{{{NS}}}{name}") if parent is None else ET.SubElement(parent, f"{{{NS}}}{name}")
    xsd_type = element.type
    if xsd_type.is_simple():
        if isinstance(value, (dict, list)):
            errors.append(f"{path}: a simple value is expected, got {type(value).__name__}")
        else:
            node.text = _text(value)
        return node
    if not isinstance(value, dict):
        errors.append(f"{path}: an object is expected, got {value!r}")
        return node
    attributes = {a.local_name if hasattr(a, "local_name") else str(k): a for k, a in xsd_type.attributes.items() if k}
    simple_content = xsd_type.has_simple_content()
    children = _children(xsd_type)
    ordered: list[tuple[int, str, Any, Any]] = []
    for key, item in value.items():
        if item is None:
            errors.append(f"{path}.{key}: null (QBO leaves out properties without a value)")
        elif key in attributes:
            node.set(key, _text(item))
        elif simple_content and key == "value":
            node.text = _text(item)
        elif key in children:
            order, child = children[key]
            ordered.append((order, key, child, item))
        else:
            errors.append(f"{path}.{key}: not in the schema of {xsd_type.local_name or name}")
    for _, key, child, item in sorted(ordered, key=lambda t: t[0]):
        for n, single in enumerate(item if isinstance(item, list) else [item]):
            _build(node, key, child, single, f"{path}.{key}" + (f"[{n}]" if isinstance(item, list) else ""), errors)
    return node


def to_xml(body: Any, root: str = "IntuitResponse") -> tuple[ET.Element, list[str]]:
    """The XML document for a JSON body (parsed with decimals) under the global element ``root``."""
    errors: list[str] = []
    element = schema().elements[root]
    return _build(None, root, element, body, root, errors), errors


def problems(body: Any, root: str = "IntuitResponse") -> list[str]:
    """Everything wrong with ``body`` as the XSD element ``root``; empty when it conforms."""
    if isinstance(body, (bytes, str)):
        body = json.loads(body, parse_float=Decimal)
    tree, errors = to_xml(body, root)
    for error in schema().iter_errors(ET.ElementTree(tree)):
        errors.append(f"{error.path}: {error.reason}")
    return errors


def entity_problems(entity: dict[str, Any], name: str) -> list[str]:
    """A request body (one entity, not an envelope) against the global element ``name`` (e.g. ``Invoice``)."""
    return problems(entity, root=name)


def assert_valid(body: Any, root: str = "IntuitResponse") -> None:
    found = problems(body, root)
    assert not found, f"{root} does not conform to the QBO XSD:\n" + "\n".join(found[:20])


def pacific_ok(stamp: str) -> bool:
    """A timestamp as QBO writes it: ISO 8601 with the Pacific offset (-08:00 or -07:00)."""
    parsed = dt.datetime.fromisoformat(stamp)
    return parsed.utcoffset() in (dt.timedelta(hours=-8), dt.timedelta(hours=-7))
