"""``/openapi.json``: the model server's routes, with ``/invocations``' body drawn from the
model's signature (its columns and their types, or its tensor's shape)."""

from __future__ import annotations

from typing import Any

__all__ = ["document"]

_JSON_TYPES = {"f": "number", "i": "integer", "u": "integer", "b": "boolean"}


def _value_schema(dtype: str) -> dict[str, Any]:
    import numpy as np

    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = "O"
    if kind in _JSON_TYPES:
        return {"type": _JSON_TYPES[kind]}
    if kind == "M":
        return {"type": "string", "format": "date-time"}
    if kind in "US":
        return {"type": "string"}
    return {}


def _tensor_schema(shape: list[int], dtype: str) -> dict[str, Any]:
    schema = _value_schema(dtype)
    for size in reversed(shape):
        schema = {"type": "array", "items": schema}
        if size >= 0:
            schema.update(minItems=size, maxItems=size)
    return schema


def _bodies(inputs: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON request body's schema: one of MLflow's four forms."""
    if inputs is not None and inputs.get("type") == "dataframe":
        columns = inputs["columns"]
        names = [c["name"] for c in columns]
        cell = {"anyOf": [_value_schema(c["dtype"]) for c in columns]}
        record = {
            "type": "object",
            "properties": {c["name"]: _value_schema(c["dtype"]) for c in columns},
            "required": names,
        }
        split = {
            "type": "object",
            "required": ["data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string", "enum": names}},
                "data": {
                    "type": "array",
                    "items": {"type": "array", "items": cell, "minItems": len(names)},
                },
            },
        }
        rows = {"type": "array", "items": record}
        columnar = {
            "type": "object",
            "properties": {
                c["name"]: {"type": "array", "items": _value_schema(c["dtype"])} for c in columns
            },
        }
        forms = {
            "dataframe_split": split,
            "dataframe_records": rows,
            "instances": rows,
            "inputs": columnar,
        }
    elif inputs is not None:
        tensor = _tensor_schema(list(inputs["shape"]), str(inputs["dtype"]))
        forms = {
            "instances": tensor,
            "inputs": tensor,
            "dataframe_split": {"type": "object", "properties": {"data": tensor}},
        }
    else:
        forms = {
            name: {} for name in ("dataframe_split", "dataframe_records", "instances", "inputs")
        }
    return {
        "oneOf": [
            {
                "type": "object",
                "required": [name],
                "properties": {name: schema},
                "additionalProperties": False,
            }
            for name, schema in forms.items()
        ]
    }


def document(info: dict[str, Any], version: str) -> dict[str, Any]:
    """The OpenAPI 3.0 document of a server serving the model ``info`` describes."""
    signature = info.get("signature") or {}
    inputs = signature.get("inputs")
    error = {
        "description": "the input does not fit (the message says how)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    json_ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    example = info.get("input_example")
    json_body: dict[str, Any] = {"schema": _bodies(inputs)}
    if example:
        json_body["example"] = {"dataframe_split": example}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"autolog model server: {info.get('uri', '')}",
            "version": version,
            "description": f"a {info.get('flavor', '')} model ({info.get('model_class', '')})",
        },
        "paths": {
            "/invocations": {
                "post": {
                    "summary": "Predict: MLflow's scoring-server bodies, or a CSV table",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": json_body,
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "one prediction per input row",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"predictions": {"type": "array"}},
                                    }
                                }
                            },
                        },
                        "400": error,
                        "413": error,
                        "415": error,
                        "422": {
                            **error,
                            "description": "the model refused input that fits its signature",
                        },
                    },
                }
            },
            **{
                path: {"get": {"summary": summary, "responses": {"200": json_ok}}}
                for path, summary in (
                    ("/ping", "200 while the server answers"),
                    ("/health", "the server's state"),
                    ("/version", "autolog's version and the version served"),
                    ("/metadata", "the model: flavor, signature, input example, requirements"),
                    ("/metrics", "Prometheus text"),
                )
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                        "error_code": {"type": "string"},
                        "message": {"type": "string"},
                    },
                }
            }
        },
    }
