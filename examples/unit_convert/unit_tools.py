"""A user-written tool operator for flowforge: exact unit conversion.

The operator set `operators.yaml` beside this file names it as `impl: "unit_tools:convert_units"`;
flowforge imports this module from the YAML's directory and checks that the function's arguments
match the operator's signature.
"""
import re

# unit name -> (dimension, size in that dimension's base unit)
UNITS = {
    "millimeters": ("length", 0.001), "centimeters": ("length", 0.01), "meters": ("length", 1.0),
    "kilometers": ("length", 1000.0), "inches": ("length", 0.0254), "feet": ("length", 0.3048),
    "yards": ("length", 0.9144), "miles": ("length", 1609.344),
    "grams": ("mass", 0.001), "kilograms": ("mass", 1.0), "ounces": ("mass", 0.028349523125),
    "pounds": ("mass", 0.45359237),
    "seconds": ("time", 1.0), "minutes": ("time", 60.0), "hours": ("time", 3600.0), "days": ("time", 86400.0),
}
_NAMES = "|".join(sorted(UNITS, key=len, reverse=True))
_QUANTITY = re.compile(rf"(-?\d+(?:\.\d+)?)\s*({_NAMES})\b", re.I)
_UNIT = re.compile(rf"\b({_NAMES})\b", re.I)


def convert(text: str) -> float:
    """The first `<number> <unit>` in `text`, expressed in the other unit it mentions."""
    quantity = _QUANTITY.search(text)
    if quantity is None:
        raise ValueError("no '<number> <unit>' quantity in the text")
    value, source = float(quantity.group(1)), quantity.group(2).lower()
    targets = [m.group(1).lower() for m in _UNIT.finditer(text) if m.start() != quantity.start(2)]
    targets = [t for t in targets if t != source]
    if not targets:
        raise ValueError(f"no unit to convert {source} into")
    target = targets[0]
    (dim_a, size_a), (dim_b, size_b) = UNITS[source], UNITS[target]
    if dim_a != dim_b:
        raise ValueError(f"cannot convert {dim_a} ({source}) into {dim_b} ({target})")
    return float(f"{value * size_a / size_b:.6g}")  # six significant digits


async def convert_units(ctx, text):
    """flowforge operator: `convert_units(text: str) -> str`. Deterministic; no executor call."""
    return f"{convert(str(text)):.6g}"
