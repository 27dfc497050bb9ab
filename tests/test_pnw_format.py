"""The .pnw layout edge.model.pnw writes and reads is the one native/src/model.h defines and
native/src/model.c loads: header fields at the offsets the header's comment gives, entry
sizes, codes and limits as its #defines and enums, the format versions the loader takes."""
import re
from pathlib import Path

from edge.model import pnw

SRC = Path(__file__).resolve().parent.parent / "native" / "src"
MODEL_H = (SRC / "model.h").read_text()
DEFINES = dict(re.findall(r"^#define (PN_\w+) (.+?)\s*(?:/\*.*)?$", MODEL_H, re.M))
ENUMS = {k: int(v) for k, v in re.findall(r"(PN_\w+) = (\d+)", MODEL_H)}


def _comment(start: str, end: str) -> str:
    return MODEL_H[MODEL_H.index(start):MODEL_H.index(end)]


def _expand(codes: str) -> str:
    """struct codes one per value ("2I" -> "II"), so that "6I" and six u32s compare equal."""
    return re.sub(r"(\d+)(\w)", lambda m: m.group(2) * int(m.group(1)), codes)


def test_header_fields_sit_where_model_h_says():
    """Each '<offset> <type> <name>' of the header comment: u32, i16 name[n], char name[n]."""
    codes = {"u32": "I", "i16": "h", "char": "s"}
    said = [(int(off), "4s" if magic else (n or "") + codes[kind])
            for off, magic, kind, n in re.findall(r'(\d+) +(?:("PNWF")|(u32|i16|char) \w+(?:\[(\d+)\])?)',
                                                 _comment("header, ", "layer table"))]
    assert said == [(pnw.OFFSETS[name], code) for name, code in pnw.HEADER_FIELDS]
    assert pnw.HEADER.size == int(DEFINES["PN_MODEL_HEADER_SIZE"]) == int(re.search(
        r"header, (\d+) bytes", MODEL_H).group(1))
    assert pnw.CRC_FROM == int(re.search(r"CRC-32 of bytes (\d+)\.\.end", MODEL_H).group(1))


def test_layer_entries_are_the_sizes_and_fields_model_h_gives():
    said = re.findall(r"(u32|i16) \w+(?:\[(\d+)\])?", _comment("layer table", "payload,"))
    codes = "".join((n or "") + {"u32": "I", "i16": "h"}[kind] for kind, n in said)
    assert _expand(codes) == _expand(pnw.LAYER.format[1:] + pnw.LAYER_ENCODINGS.format[1:])
    assert pnw.layer_size(pnw.FORMAT_VERSION) == int(DEFINES["PN_MODEL_LAYER_SIZE"])
    assert pnw.layer_size(pnw.FORMAT_VERSION_MIXED) == int(DEFINES["PN_MODEL_LAYER_SIZE_V3"])
    assert pnw.MAX_SRC == int(DEFINES["PN_MAX_SRC"])


def test_codes_and_limits_mirror_the_enums_and_defines():
    assert pnw.TYPES == {k: ENUMS[f"PN_LAYER_{k.upper()}"] for k in pnw.TYPES}
    assert pnw.ACTS == {k: ENUMS[f"PN_ACT_{(k or 'none').upper()}"] for k in pnw.ACTS}
    assert pnw.WEIGHT_BITS == {k: ENUMS[f"PN_WEIGHTS_{k.upper()}"] for k in pnw.WEIGHT_BITS}
    assert len(pnw.TYPES) == len([k for k in ENUMS if k.startswith("PN_LAYER_")])
    assert len(pnw.ACTS) == len([k for k in ENUMS if k.startswith("PN_ACT_")])
    assert len(pnw.WEIGHT_BITS) == len([k for k in ENUMS if k.startswith("PN_WEIGHTS_")])
    assert pnw.INT4_BLOCK == int(DEFINES["PN_Q4_BLOCK"])
    expr = DEFINES["PN_Q4_MUL_SUM_MAX"].replace("INT32_MAX", str(2**31 - 1)).replace("PN_Q4_BLOCK", str(pnw.INT4_BLOCK))
    assert pnw.INT4_MUL_SUM_MAX == eval(expr.replace("/", "//"))


def test_the_versions_written_are_the_ones_the_loader_reads():
    model_c = (SRC / "model.c").read_text()
    lo, hi = (int(re.search(rf"#define {k} (\d+)", model_c).group(1)) for k in ("FORMAT_VERSION_MIN", "FORMAT_VERSION"))
    assert (pnw.FORMAT_VERSION, pnw.FORMAT_VERSION_MIXED) == (lo, hi)
    assert pnw.MAGIC.decode() in re.search(r'memcmp\(d, "(\w+)", 4\)', model_c).group(1)
