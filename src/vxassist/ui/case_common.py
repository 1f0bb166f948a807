"""Small pieces the case windows share: sentences from errors, wrapped labels, deadlines."""

from __future__ import annotations

import html
import logging
from typing import Any

from vxassist.cases.levels import deadline_texts, parse_instant
from vxassist.cases.status import QUEUED, QUEUED_LABEL, STATUS_LABELS, status_label
from vxassist.errors import VxError
from vxassist.ui.qt import Qt, QtCore, QtWidgets, tr

log = logging.getLogger(__name__)

CTX = "CaseWindows"

#: the case statuses as the web console and `vxassist case` name them (one word for one
#: state, ``cases.status``), and a request still in this computer's outbox
STATUS_WORDS: dict[str, str] = {**STATUS_LABELS, QUEUED: QUEUED_LABEL}

#: who a case can be escalated to (the desk's names) and how the customer reads them
ESCALATION_WORDS: dict[str, str] = {
    "technical_support_manager": str(QtCore.QT_TRANSLATE_NOOP(CTX, "Manager of Technical Support")),
    "sales_manager": str(QtCore.QT_TRANSLATE_NOOP(CTX, "local Sales Manager")),
}


def escalation_text(to: Any) -> str:
    """Who a case goes to, in words ("local Sales Manager")."""
    key = str(to or "")
    return tr(CTX, ESCALATION_WORDS[key]) if key in ESCALATION_WORDS else key.replace("_", " ")


def status_text(status: Any) -> str:
    """A case's status in words ("New", "Waiting on customer")."""
    key = str(status or "")
    return tr(CTX, STATUS_WORDS[key]) if key in STATUS_WORDS else status_label(key)


def error_sentence(exc: BaseException) -> str:
    """What to show for a failure: the error's own sentence, never a traceback."""
    if isinstance(exc, VxError):
        return exc.message
    log.error("unexpected failure behind a window", exc_info=exc)
    return tr(
        CTX,
        "Something went wrong on this computer; try again. If it keeps happening, "
        "tell support what you were doing (the details are in vxassist's log).",
    )


def wrapped(
    text: str = "", parent: QtWidgets.QWidget | None = None, links: bool = False
) -> QtWidgets.QLabel:
    """A label that wraps instead of being cut off.

    With ``links`` its links are reached with Tab (the label is then a tab stop;
    plain labels are not, so Tab goes from field to field).
    """
    label = QtWidgets.QLabel(text, parent)
    label.setWordWrap(True)
    flags = (
        Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse
    )
    if links:
        flags |= Qt.TextInteractionFlag.LinksAccessibleByKeyboard
    label.setTextInteractionFlags(flags)
    label.setOpenExternalLinks(True)
    # an explicit policy, so the layouts ask for the height at the width given
    policy = label.sizePolicy()
    policy.setHeightForWidth(True)
    label.setSizePolicy(policy)
    return label


def heading(
    text: str, parent: QtWidgets.QWidget | None = None, size: float = 1.25
) -> QtWidgets.QLabel:
    label = wrapped(text, parent)
    font = label.font()
    font.setBold(True)
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * size)
    label.setFont(font)
    label.setAccessibleName(text)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def deadline_lines(value: Any) -> str:
    """The deadline as two HTML lines: the customer's time, then Pacific time."""
    texts = deadline_texts(value)
    if texts is None:
        return esc(tr(CTX, "not known yet"))
    return tr(CTX, "<b>{local}</b> (your time)<br><b>{pacific}</b> (Pacific time)").format(
        local=esc(texts.local), pacific=esc(texts.pacific)
    )


def deadline_line(value: Any) -> str:
    """ "Tue 24 Nov 2026, 21:00 CET (your time) — Tue 24 Nov 2026, 12:00 PST (Pacific time)"."""
    texts = deadline_texts(value)
    if texts is None:
        return tr(CTX, "not known yet")
    return tr(CTX, "{local} (your time), {pacific} (Pacific time)").format(
        local=texts.local, pacific=texts.pacific
    )


def short_time(value: Any) -> str:
    """A desk time in the customer's time, short (for tables and the history)."""
    moment = parse_instant(value)
    return moment.astimezone().strftime("%a %d %b, %H:%M") if moment else ""


def esc(text: Any) -> str:
    return html.escape(str(text if text is not None else ""))


def error_style(label: QtWidgets.QLabel) -> None:
    """A calm but visible error line (dark red, not a box)."""
    label.setStyleSheet("color: #a4000f;")


def contact_html(phone: str, email: str) -> str:
    return tr(CTX, "phone {phone}, e-mail {email}").format(
        phone=esc(phone), email=f'<a href="mailto:{esc(email)}">{esc(email)}</a>'
    )
