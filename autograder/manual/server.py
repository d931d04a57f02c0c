"""The TA's grading page: a Jupyter server extension served beside nbgrader's formgrader.

`alexnet-lab formgrader OUT` starts one `jupyter server` in OUT/nbgrader with one token; this
extension adds, under the server's base URL, the page (`/alexnet-lab/grading`) and the JSON API it
uses (`/alexnet-lab/api/...`, every endpoint in docs/ta.md, "Grading written answers question by
question"). A TA can script
the API with the same token (`Authorization: token ...`); the page itself is authenticated by the
cookie Jupyter sets when the URL's token is first used, and sends the `_xsrf` token with each write.

How a server finds it: `write_server_config(OUT/nbgrader, ...)` writes
`OUT/nbgrader/jupyter_server_config.json`, which enables this module as an extension and says
which OUT, which grader's settings file and which course master (its rubrics' items) it grades
with (the database is nbgrader's). Any
`jupyter server` whose config path holds that folder (`JUPYTER_CONFIG_PATH=OUT/nbgrader`, as the
launcher sets it, or a JupyterHub service's environment) loads it: that file is the one home.

What must hold:
- A request without the token gets no data: the API answers 403 (JSON), the page redirects to
  Jupyter's login page. Every error is JSON `{"error": one line}`.
- Student text leaves here only as JSON strings; the page puts it in the DOM with textContent.
- The store (`desk.Desk`) is opened once per server, at the first request (the gradebook's URL is
  nbgrader's, known once formgrader has loaded: `nbgrader_config.py` in OUT/nbgrader is its home).
"""
from __future__ import annotations

import getpass
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import unquote

from jinja2 import BaseLoader, Environment, FileSystemLoader, select_autoescape
from jupyter_server.base.handlers import APIHandler, AuthenticatedFileHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from autograder.errors import LabError
from autograder.files import atomic_write
from autograder.urls import GRADING_PATH

EXTENSION = "autograder.manual.server"
CONFIG_FILE = "jupyter_server_config.json"
"""In OUT/nbgrader: enables this extension and holds its settings (section `AlexnetLabGrading`)."""
SECTION = "AlexnetLabGrading"
PAGE = GRADING_PATH
PREFIX = PAGE.split("/")[0]
TA_HEADER = "X-Alexnet-Lab-TA"
"""The name a TA typed into the page (not under JupyterHub, whose user is the TA), percent-encoded."""
MAX_BODY = 4 * 1024 * 1024
"""A request body past this is refused: the largest real one names 10,000 students."""
HERE = Path(__file__).parent


def write_server_config(root: Path, out: Path, config_file: Path | None, master: Path | None = None) -> Path:
    """`OUT/nbgrader/jupyter_server_config.json`: this extension enabled, and what it grades. The
    gradebook's URL is not here (it may hold a password): it is nbgrader's, from the
    nbgrader_config.py beside it, which formgrader reads too."""
    path = Path(root) / CONFIG_FILE
    data = {
        "ServerApp": {"jpserver_extensions": {EXTENSION: True}},
        SECTION: {"out": str(Path(out).resolve()),
                  "config_file": str(Path(config_file).resolve()) if config_file else None,
                  "master": str(Path(master).resolve()) if master else None},
    }
    text = json.dumps(data, indent=1) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write(path, text)
    return path


# ---------------------------------------------------------------- who

def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (a container)
        return str(os.getuid())


def who(handler: JupyterHandler) -> str:
    """Who is grading: JupyterHub's user under JupyterHub; else the name the TA gave the page,
    with the server's OS user ("ana (root)"); else the server's OS user."""
    if os.environ.get("JUPYTERHUB_API_URL"):
        user = handler.current_user
        name = getattr(user, "username", None) or (user.get("name") if isinstance(user, dict) else None)
        if name:
            return str(name)
    given = " ".join(unquote(handler.request.headers.get(TA_HEADER) or "").split())[:60]
    return f"{given} ({os_user()})" if given else os_user()


# ---------------------------------------------------------------- handlers

class _Base(APIHandler):
    """JSON in, JSON out; errors as `{"error": one line}`."""

    @property
    def desk(self):
        return self.settings["alexnet_lab_desk"].get(self.settings)

    def body(self) -> dict:
        if len(self.request.body) > MAX_BODY:
            raise web.HTTPError(413, f"request body over {MAX_BODY // 1024 // 1024} MB")
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        return data

    def reply(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            line = exc.log_message % exc.args if exc.args else exc.log_message
        elif isinstance(exc, LabError):
            line = str(exc)
        else:
            line = self._reason
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        extra = getattr(exc, "data", None) or {}
        self.finish(json.dumps({"error": str(line).splitlines()[0] if line else "error", **extra}))

    def guarded(self, call, *args):
        """Run a desk call; its refusals become HTTP errors with one line."""
        from sqlalchemy.exc import SQLAlchemyError

        from autograder.manual.desk import NotFound, Refused

        try:
            return call(*args)
        except SQLAlchemyError as exc:  # SQLite's lock held by a grade recording, a server restarting
            self.desk.store.db.rollback()
            reason = (str(exc.orig if getattr(exc, "orig", None) else exc).splitlines() or ["error"])[0][:200]
            raise web.HTTPError(503, "%s", f"the gradebook did not answer ({reason}); nothing was changed, "
                                           "try again") from None
        except NotFound as exc:
            raise web.HTTPError(404, "%s", str(exc)) from None
        except Refused as exc:
            error = web.HTTPError(409, "%s", str(exc))
            error.data = exc.data
            raise error from None
        except LabError as exc:
            raise web.HTTPError(400, "%s", str(exc).splitlines()[0]) from None


class QuestionsHandler(_Base):
    @web.authenticated
    def get(self):
        self.reply({"questions": self.guarded(self.desk.questions), "who": who(self),
                    "hub": bool(os.environ.get("JUPYTERHUB_API_URL"))})


class QuestionHandler(_Base):
    @web.authenticated
    def get(self, question):
        self.reply(self.guarded(self.desk.question, question))


class AnswerHandler(_Base):
    @web.authenticated
    def get(self, question, student):
        self.reply(self.guarded(self.desk.answer, question, student))


class ApplyHandler(_Base):
    @web.authenticated
    def post(self, question):
        data = self.body()
        self.reply(self.guarded(self.desk.apply, question, data, who(self)))


class NoteHandler(_Base):
    @web.authenticated
    def post(self, question):
        self.reply(self.guarded(self.desk.note, question, self.body(), who(self)))


class ItemsHandler(_Base):
    @web.authenticated
    def post(self, question):
        self.reply(self.guarded(self.desk.add_item, question, self.body(), who(self)), 201)


class ItemHandler(_Base):
    @web.authenticated
    def patch(self, question, item):
        self.reply(self.guarded(self.desk.edit_item, question, item, self.body(), who(self)))

    @web.authenticated
    def delete(self, question, item):
        self.reply(self.guarded(self.desk.delete_item, question, item, who(self)))


class MoveHandler(_Base):
    @web.authenticated
    def post(self, question):
        self.reply(self.guarded(self.desk.move, question, self.body(), who(self)))


class MergeHandler(_Base):
    @web.authenticated
    def post(self, question):
        self.reply(self.guarded(self.desk.merge, question, self.body(), who(self)))


class PageHandler(JupyterHandler):
    """The page: a shell; everything it shows comes from the API."""

    @web.authenticated
    def get(self):
        try:  # the questions' labels, so the page opens one before the progress of all arrives
            labels = list(self.settings["alexnet_lab_desk"].get(self.settings).config.points.questions)
        except web.HTTPError:  # the API says why, in one line, when the page asks
            labels = []
        html = _page_env().get_template("grading.html.j2").render(
            base_url=self.base_url.rstrip("/"), xsrf_token=self.xsrf_token.decode("ascii"),
            static=url_path_join(self.base_url, PREFIX, "static"), questions=" ".join(labels))
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(html)


class Unavailable(_Base):
    """Every route while the extension could not open what it grades: the reason, in one line."""

    def initialize(self, reason: str):
        self.reason = reason

    @web.authenticated
    def get(self, *args):
        raise web.HTTPError(503, "%s", self.reason)

    post = patch = delete = get


def _page_env() -> Environment:
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))


_Q = r"([A-Za-z0-9_.-]{1,40})"
_S = r"([A-Za-z0-9_.-]{1,200})"


def routes() -> list[tuple]:
    api = f"/{PREFIX}/api/questions"
    return [
        (f"{api}", QuestionsHandler),
        (f"{api}/{_Q}", QuestionHandler),
        (f"{api}/{_Q}/answers/{_S}", AnswerHandler),
        (f"{api}/{_Q}/apply", ApplyHandler),
        (f"{api}/{_Q}/note", NoteHandler),
        (f"{api}/{_Q}/items", ItemsHandler),
        (f"{api}/{_Q}/items/{_S}", ItemHandler),
        (f"{api}/{_Q}/groups/move", MoveHandler),
        (f"{api}/{_Q}/groups/merge", MergeHandler),
        (f"/{PAGE}", PageHandler),
    ]


# ---------------------------------------------------------------- the link from formgrader's page

SIDEBAR_END = re.compile(r"(\{%-?\s*block sidebar\s*-?%\}.*?\{%-?\s*endblock\s*-?%\})", re.S)
NAV_ENTRY = ('\n          <li role="presentation"><a href="{{ base_url }}/' + PAGE +
             '" id="alexnet-lab-grading">Grade written answers</a></li>')


class _FormgraderNav(BaseLoader):
    """nbgrader's template loader with one entry added to formgrader's side bar: after base.tpl's
    `sidebar` block (each page overrides the block, so inside it the entry would be lost), in the
    same list. nbgrader offers no hook for it."""

    def __init__(self, inner: BaseLoader):
        self.inner = inner

    def get_source(self, environment, template):
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template == "base.tpl" and PAGE not in source:
            source = SIDEBAR_END.sub(lambda m: m.group(1) + NAV_ENTRY, source, count=1)
        return source, filename, uptodate


def link_from_formgrader(webapp, log) -> None:
    env = webapp.settings.get("nbgrader_jinja2_env")
    if env is None:
        log.warning("alexnet-lab grading page: nbgrader's formgrader is not loaded; no link from its page")
        return
    if not isinstance(env.loader, _FormgraderNav):
        env.loader = _FormgraderNav(env.loader)
        env.cache.clear() if env.cache is not None else None


# ---------------------------------------------------------------- loading

class _DeskSlot:
    """The desk, opened once, at the first request (formgrader has set nbgrader's db_url by then).
    A failure is answered in one line and tried again at the next request (a database restarting)."""

    def __init__(self, section: dict, log):
        self.section = section
        self.log = log
        self.lock = threading.Lock()
        self.desk = None

    def get(self, settings):
        with self.lock:
            if self.desk is None:
                from sqlalchemy.exc import SQLAlchemyError

                from autograder.manual.desk import Desk

                db_url = settings.get("nbgrader_db_url")  # formgrader's: nbgrader_config.py in OUT/nbgrader
                try:
                    self.desk = Desk.open(Path(self.section["out"]), self.section.get("config_file"), db_url,
                                          base_url=settings.get("base_url", "/"), master=self.section.get("master"))
                except (LabError, SQLAlchemyError, OSError) as exc:
                    reason = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
                    self.log.error("alexnet-lab grading page: %s", reason)
                    raise web.HTTPError(503, "%s", f"cannot open what this page grades: {reason}") from None
            return self.desk


def _jupyter_server_extension_points():
    return [{"module": EXTENSION}]


def _load_jupyter_server_extension(serverapp):
    webapp = serverapp.web_app
    base = webapp.settings["base_url"]
    section = dict(serverapp.config.get(SECTION, {}))
    if not section.get("out"):
        reason = (f"no {SECTION}.out in the server's config: start it with `alexnet-lab formgrader OUT`, or with "
                  f"JUPYTER_CONFIG_PATH=OUT/nbgrader (the {CONFIG_FILE} that command writes there)")
        serverapp.log.error("alexnet-lab grading page: %s", reason)
        handlers = [(url_path_join(base, f"/{PREFIX}/(.*)"), Unavailable, {"reason": reason})]
    else:
        webapp.settings["alexnet_lab_desk"] = _DeskSlot(section, serverapp.log)
        handlers = [(url_path_join(base, path), handler) for path, handler in routes()]
        handlers.append((url_path_join(base, f"/{PREFIX}/static/(.*)"), AuthenticatedFileHandler,
                         {"path": str(HERE / "static")}))
    webapp.add_handlers(".*$", handlers)
    serverapp.log.info("alexnet-lab grading page at %s", url_path_join(base, PAGE))


async def _start_jupyter_server_extension(serverapp):
    """Extensions load in name order, nbgrader's after this one; they all start after every load."""
    link_from_formgrader(serverapp.web_app, serverapp.log)
