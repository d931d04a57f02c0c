"""Make what a student wrote inert in the notebook nbgrader's formgrader shows a TA.

Why this exists: our own pages escape every student string (Jinja autoescaping), but formgrader
renders the notebook we write into `OUT/nbgrader/autograded/` with nbconvert, which turns a
markdown cell into live HTML: raw HTML passes through and `[x](javascript:...)` becomes a live
link (nbconvert's `sanitize_html` is off in formgrader). So an answer holding `<script>` or
`<svg onload=...>` would run in the TA's browser, logged in to the grading server.

The rule, per markdown text (answer cells, and any other markdown or HTML that lands in that
notebook):
1. Render it as formgrader does (nbconvert's `HTMLExporter.markdown2html`) and check the HTML with
   `active_parts`, a strict allowlist lexer: every `<` must open a well-formed tag from a short
   list, every attribute must be one a renderer writes for that tag, every URL http(s), mailto,
   relative or a fragment. Anything it cannot read counts as active. A text that passes is kept
   exactly as written: ordinary answers and harmless formatting do not change.
2. Otherwise the text is cleaned with nh3 (ammonia: a maintained HTML sanitiser) with the same
   allowlist, and checked again; if markdown itself still makes an unsafe link (`[x](javascript:)`,
   a reference definition), its brackets are escaped so no link forms; if that is still not inert,
   the text is shown literally in a code block; failing even that, it is withheld.
3. The cost is bounded: a text over 64 KB, or past what one notebook may have rendered (256 KB),
   is not rendered to be checked but shown whole as escaped text in a <pre> (`RenderBudget`).

A changed cell says so in its metadata (`alexnet_lab.sanitised`) and in a line the TA sees. The
student's original text stays evidence: the submitted file is never modified, and `graded.json`
and our report pages keep the answer as given (escaped there).
"""
from __future__ import annotations

import html
import math
import re
from functools import lru_cache

import nh3
from nbconvert.filters.markdown_mistune import InvalidNotebook

SANITISED_KEY = "sanitised"
NOTE = ("\n\n*(alexnet-lab: active content (HTML, scripts or unsafe links) was removed from this cell so that "
        "it can be displayed safely; the submitted file and graded.json keep the student's original text.)*")
WITHHELD = "*(alexnet-lab: this text could not be made safe to display; read it in the submitted file.)*"

URL_SCHEMES = frozenset({"http", "https", "mailto"})

# What nh3 keeps of student HTML: formatting, lists, tables, links and pictures; no scripts, styles,
# frames, forms, SVG/MathML, event handlers, classes or ids (which could mimic or shadow formgrader's own).
TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre",
    "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
})
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}

# What the checker accepts: the above, plus the attributes nbconvert's renderer itself writes
# (heading anchors, highlighted code, table alignment) and the rel nh3 adds to links.
_CHECK_ATTRIBUTES = {tag: set(ATTRIBUTES.get(tag, ())) | {"title"} for tag in TAGS}
for _tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
    _CHECK_ATTRIBUTES[_tag].add("id")
for _tag in ("span", "div", "pre", "code", "a"):
    _CHECK_ATTRIBUTES[_tag].add("class")
_CHECK_ATTRIBUTES["a"].add("rel")
_CHECK_ATTRIBUTES["td"].add("style")
_CHECK_ATTRIBUTES["th"].add("style")
_URL_ATTRIBUTES = {"href", "src"}
_VALUE_RULES = {
    "class": re.compile(r"[A-Za-z0-9 _-]*"),
    "style": re.compile(r"text-align: ?(left|right|center);?"),
    "align": re.compile(r"left|right|center"),
    "width": re.compile(r"\d{1,5}"),
    "height": re.compile(r"\d{1,5}"),
    "start": re.compile(r"-?\d{1,9}"),
    "rel": re.compile(r"[a-z ]*"),
}

_WS = "[ \t\n\f\r]"  # HTML's own whitespace: browsers split attributes on nothing else
_TAG = re.compile(rf"<(/?)([A-Za-z][A-Za-z0-9]*)((?:{_WS}+[A-Za-z][A-Za-z0-9_-]*(?:{_WS}*={_WS}*\"[^\"]*\")?)*){_WS}*(/?)>")
_ATTR = re.compile(rf"([A-Za-z][A-Za-z0-9_-]*)(?:{_WS}*={_WS}*\"([^\"]*)\")?")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
# formgrader loads MathJax, whose TeX extensions make links (\\href{javascript:...}), classes, styles
# and ids from text; `_untex` puts a space after the backslash, which MathJax reads as plain text.
_TEX_ACTIVE = re.compile(r"\\(?=(?:href|url|class|cssId|style|unicode|require|html|data|toggle|action|tip|"
                         r"texttip|mmlToken|bbox|fbox|label|ref|eqref)(?![A-Za-z]))")
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f]")  # browsers drop tabs and newlines inside a URL, and trim the rest


_RASTER_DATA = re.compile(r"data:image/(png|jpeg|gif);base64,[a-z0-9+/=]*")
RASTER_TYPES = frozenset({"image/png", "image/jpeg", "image/gif"})
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


def url_is_safe(value: str, picture: bool = False) -> bool:
    """An attribute's URL as a browser reads it: entities decoded, control characters dropped. A
    `picture` (an <img>'s src) may also be a base64 PNG, JPEG or GIF: how nbconvert inlines an
    attachment, and a raster image cannot act. No other data: URL is safe."""
    url = _NOT_IN_URL.sub("", html.unescape(value)).lower()
    scheme = _SCHEME.match(url)  # a colon before any / ? #: a scheme, to a browser
    return (scheme is None or scheme.group(1) in URL_SCHEMES
            or picture and _RASTER_DATA.fullmatch(url) is not None)


def active_parts(rendered: str) -> list[str]:
    """What in this HTML could act (scripts, handlers, unsafe URLs, unknown markup); [] when inert."""
    found, pos = [], 0
    if _TEX_ACTIVE.search(html.unescape(rendered)):
        found.append("a MathJax command that makes links, styles or ids")
    while (start := rendered.find("<", pos)) != -1:
        m = _TAG.match(rendered, start)
        if m is None:
            found.append(f"markup the checker does not read: {rendered[start:start + 40]!r}")
            pos = start + 1
            continue
        closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3)
        pos = m.end()
        if name not in TAGS:
            found.append(f"<{name}>")
            continue
        if closing and attrs.strip():
            found.append(f"attributes on </{name}>")
        for attr in _ATTR.finditer(attrs):
            key, value = attr.group(1).lower(), attr.group(2) or ""
            if key not in _CHECK_ATTRIBUTES[name]:
                found.append(f"{key}= on <{name}>")
            elif not _value_is_safe(name, key, value):
                found.append(f"{key}={value[:40]!r}")
    return found


def _value_is_safe(tag: str, key: str, value: str) -> bool:
    if key in _URL_ATTRIBUTES:
        return url_is_safe(value, picture=tag == "img" and key == "src")
    rule = _VALUE_RULES.get(key)
    return rule is None or rule.fullmatch(html.unescape(value)) is not None


@lru_cache(maxsize=1)
def _exporter():
    from nbconvert import HTMLExporter  # what formgrader renders with (imported here: ~0.5 s)

    return HTMLExporter()


def render_markdown(source: str, attachments: dict | None = None) -> str | None:
    """The HTML formgrader makes of a markdown cell (nbconvert's own filter, attachments inlined),
    or None where nbconvert refuses it (an `attachment:` the cell does not have)."""
    try:
        return _exporter().markdown2html({"cell": {"attachments": attachments or {}}}, source)
    except InvalidNotebook:
        return None


def _inert(markdown: str, attachments: dict | None) -> bool:
    rendered = render_markdown(markdown, attachments)
    return rendered is not None and not active_parts(rendered)


def clean_html(text: str) -> str:
    """nh3 with this module's allowlist: script and style contents dropped, links given rel=noopener."""
    return nh3.clean(text, tags=set(TAGS), clean_content_tags={"script", "style"},
                     attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
                     url_schemes=set(URL_SCHEMES), link_rel="noopener noreferrer nofollow", strip_comments=True)


def _unlinked(markdown: str) -> str:
    """No markdown link, image or reference definition can form without an unescaped bracket."""
    return markdown.replace("[", "\\[").replace("]", "\\]")


def _untex(markdown: str) -> str:
    return _TEX_ACTIVE.sub("\\\\ ", markdown)


def _verbatim(text: str) -> str:
    """The text as escaped HTML in a <pre>, which markdown passes through whole (an HTML block) and
    MathJax skips. No bracket is left: nbconvert's templates run a regex over a markdown cell that
    takes quadratic time in a line's brackets (strip_files_prefix), so formgrader could not render a
    5 MB line of links in minutes; &#91; &#93; show as [ ]."""
    return "<pre>" + html.escape(text, quote=False).replace("[", "&#91;").replace("]", "&#93;") + "</pre>"


def _literal(markdown: str) -> str:
    """The text in a fenced code block longer than any run of backticks in it: shown as typed."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", markdown)), default=0) + 1)
    return f"{fence}text\n{markdown}\n{fence}"


MAX_RENDERED_CHARS = 64 * 1024
"""The longest markdown text checked by rendering it (nbconvert's markdown renderer and the checker
take about 4 s a MB, 9 s with HTML to clean): a longer one is shown literally, as typed, whole."""
NOTEBOOK_RENDER_CHARS = 256 * 1024
"""What one notebook may have rendered and checked in all; past it, texts are shown literally: so
the sanitising of one submission is bounded (about 2 s on one core) whatever it holds."""
RENDER_CHARGE = 256
"""What each render takes from that budget besides its characters: nbconvert's renderer costs about
0.1 ms a call, whatever the text, so a notebook of 100,000 one-line or empty cells is bounded too
(at most NOTEBOOK_RENDER_CHARS / RENDER_CHARGE texts rendered, each at most four times: itself, then
up to three safer forms; the lab's own notebook needs about 40)."""
LONG_NOTE = ("\n\n*(alexnet-lab: this text is too long to display as formatted; it is shown as typed, in full. "
             "The submitted file and graded.json keep it too.)*")


class RenderBudget:
    """The characters a notebook may still have rendered and checked (`NOTEBOOK_RENDER_CHARS`)."""

    def __init__(self, chars: int | None = None):
        self.left = NOTEBOOK_RENDER_CHARS if chars is None else chars

    def take(self, text: str) -> bool:
        """Whether `text` may be rendered: short enough, and within what the notebook has left."""
        cost = len(text) + RENDER_CHARGE
        if len(text) > MAX_RENDERED_CHARS or cost > self.left:
            return False
        self.left -= cost
        return True


def inert_markdown(source: str, attachments: dict | None = None,
                   budget: RenderBudget | None = None) -> tuple[str, bool]:
    """(text, changed): `source` itself when formgrader would render it inert, else a safe version.
    `attachments`: the cell's own, already limited to raster pictures (`raster_attachments`).
    A text over `budget` (default: MAX_RENDERED_CHARS alone) is not rendered to be checked: it is
    shown literally, in full; the literal form is still checked, as HTML, in linear time."""
    if not source.strip():
        return source, False  # nothing to render, nothing that could act: no budget spent on it
    if not (budget or RenderBudget(MAX_RENDERED_CHARS + RENDER_CHARGE)).take(source):
        # Escaped text in a <pre>: an HTML block, which markdown passes through whole, so the HTML
        # itself is what formgrader shows; checked without a render (rendering every such cell of a
        # notebook of 100,000 one-line cells to check it held the coordinator for minutes).
        candidate = _verbatim(_untex(source))
        return (candidate + LONG_NOTE, True) if not active_parts(candidate) else (WITHHELD, True)
    if _inert(source, attachments):
        return source, False
    cleaned = _untex(clean_html(source))
    for candidate in (cleaned, _unlinked(cleaned), _literal(_untex(source))):
        if _inert(candidate + NOTE, attachments):
            return candidate + NOTE, True
    return WITHHELD, True


def raster_attachments(attachments) -> tuple[dict, bool]:
    """(kept, changed): a markdown cell's attachments that are base64 PNG, JPEG or GIF pictures only
    (nbconvert inlines an attachment into the page; an SVG or HTML one could act there)."""
    if not isinstance(attachments, dict):
        return {}, attachments is not None
    kept = {}
    for name, bundle in attachments.items():
        if not isinstance(bundle, dict):
            continue
        pictures = {mime: data for mime, data in bundle.items() if mime in RASTER_TYPES and isinstance(data, str)
                    and _BASE64.fullmatch(data)}
        if pictures:
            kept[name] = pictures
    return kept, kept != attachments


def inert_html(text: str) -> tuple[str, bool]:
    """(html, changed) for HTML shown as it is (a text/html output, a raw cell)."""
    if not active_parts(text):
        return text, False
    cleaned = _untex(clean_html(text))
    if not active_parts(cleaned):
        return cleaned, True
    return html.escape(text), True


# -- a whole notebook ---------------------------------------------------------------------
KEPT_OUTPUT_TYPES = frozenset({"text/plain", "image/png", "image/jpeg", "text/latex"})
"""Output data shown as escaped text or base64 pictures; text/html and text/markdown are made
inert; our own records (application/vnd.alexnet-lab.*) are JSON formgrader does not display.
Everything else (JavaScript, SVG, widgets, PDF...) is dropped from the copy formgrader reads."""
_SAFE_GRADE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")  # formgrader writes grade ids into HTML unescaped


def inert_notebook(nb) -> list[str]:
    """Make every cell and output of `nb` (an nbformat v4 node) inert, in place; one note per change.
    Its cost is bounded: markdown past the notebook's render budget is shown literally."""
    notes = []
    budget = RenderBudget()
    if nb.metadata.pop("widgets", None) is not None:  # nbconvert turns widget state into scripts
        notes.append("notebook: widget state removed")
    for index, cell in enumerate(nb.cells):
        changed = _inert_cell(cell, budget)
        if changed:
            meta = cell.setdefault("metadata", {}).setdefault("alexnet_lab", {})
            meta[SANITISED_KEY] = "; ".join(changed)
            grade = (cell.metadata.get("nbgrader") or {}).get("grade_id")
            notes.append(f"cell {grade or index}: " + "; ".join(changed))
    return notes


def _inert_cell(cell, budget: RenderBudget) -> list[str]:
    changed = []
    meta = cell.get("metadata")
    if not isinstance(meta, dict):
        cell["metadata"] = meta = {}
    nbg = meta.get("nbgrader")
    if nbg is not None and not _nbgrader_meta_ok(nbg):
        del meta["nbgrader"]
        changed.append("nbgrader metadata that formgrader would write into its page unescaped removed")
    kind = cell.get("cell_type")
    if kind not in ("markdown", "code", "raw"):
        cell.clear()
        cell.update({"cell_type": "markdown", "metadata": {}, "source": WITHHELD})
        return ["a cell of unknown type replaced"]
    if not isinstance(cell.get("source"), str):
        source = cell.get("source")
        cell["source"] = "".join(source) if isinstance(source, list) and all(isinstance(s, str) for s in source) else ""
    if kind == "markdown":
        attachments, was = raster_attachments(cell.get("attachments"))
        if was:
            changed.append("attachments other than pictures removed")
        if attachments:
            cell["attachments"] = attachments
        else:
            cell.pop("attachments", None)
        cell["source"], was = inert_markdown(cell["source"], attachments, budget)
        if was:
            changed.append("active content removed from the markdown")
    elif kind == "raw":
        cell["source"], was = inert_html(cell["source"])
        if was:
            changed.append("active content removed from the raw cell")
    else:
        count = cell.get("execution_count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            cell["execution_count"] = None  # formgrader prints it unescaped in the prompt
            changed.append("execution count reset")
        changed += _inert_outputs(cell, budget)
    return changed


def _nbgrader_meta_ok(nbg) -> bool:
    if not isinstance(nbg, dict):
        return False
    grade_id = nbg.get("grade_id")
    points = nbg.get("points", 0)
    return ((grade_id is None or (isinstance(grade_id, str) and _SAFE_GRADE_ID.fullmatch(grade_id) is not None))
            and isinstance(points, int | float) and not isinstance(points, bool))


def _dimension(value) -> bool:
    """A width or height nbconvert may write into an <img> (unquoted): a number, nothing else."""
    try:
        return (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                and 0 < value <= MAX_DIMENSION)
    except OverflowError:  # an integer of 400 digits
        return False


MAX_DIMENSION = 100_000
IMAGE_METADATA = {"width": _dimension, "height": _dimension, "unconfined": lambda v: isinstance(v, bool),
                  "needs_background": lambda v: v in ("light", "dark"), "alt": lambda v: isinstance(v, str)}
"""The output metadata nbconvert reads for a picture (its templates: under the picture's MIME type,
or at the top level) and what each may be: width and height are written unquoted into the <img>, so
only numbers pass. Every other key (`filenames`, which becomes an <img>'s src, text/html's
`isolated`, anything a kernel or a student put there) is not in formgrader's copy."""


def _image_metadata(meta) -> tuple[dict, list[str]]:
    """(kept, what was dropped that nbconvert would have written into the page): the allowlist."""
    if not isinstance(meta, dict):
        return {}, [] if meta is None else ["output metadata of the wrong type"]
    kept, dropped = {}, []
    for key, value in meta.items():
        if key in IMAGE_METADATA:
            if IMAGE_METADATA[key](value):
                kept[key] = value
            else:
                dropped.append(f"output metadata {key}={str(value)[:40]!r}")
        elif key in ("image/png", "image/jpeg") and isinstance(value, dict):
            inner, gone = _image_metadata(value)
            kept[key] = inner
            dropped += [f"{key} {what}" for what in gone]
        elif key == "text/html":  # only `isolated` is read: the output in an iframe of its own
            if isinstance(value, dict) and value.get("isolated"):
                dropped.append("isolated (iframe) display")
        elif key in ("filenames", "image/png", "image/jpeg"):  # read by nbconvert's templates
            dropped.append(f"output metadata {key!r}")
    return kept, dropped


def _inert_outputs(cell, budget: RenderBudget) -> list[str]:
    changed = []
    for out in cell.get("outputs") or []:
        if not isinstance(out, dict):
            continue
        if out.get("execution_count") is not None and not isinstance(out.get("execution_count"), int):
            out["execution_count"] = None
        if "metadata" in out:
            out["metadata"], dropped = _image_metadata(out["metadata"])
            changed += [f"{what} removed" for what in dropped[:3]]
        data = out.get("data")
        if not isinstance(data, dict):
            continue
        for mime in list(data):
            value = data[mime]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = "".join(value)
            if mime in ("text/html", "text/markdown") and isinstance(value, str):
                data[mime], was = inert_html(value) if mime == "text/html" else inert_markdown(value, None, budget)
                if was:
                    changed.append(f"active content removed from a {mime} output")
            elif mime in KEPT_OUTPUT_TYPES or mime.startswith("application/vnd.alexnet-lab."):
                continue
            else:
                del data[mime]
                changed.append(f"{mime} output removed")
    return changed
