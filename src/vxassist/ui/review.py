"""What will be sent: every part of a request, its exact text, and a tick box each.

The customer reads each part as it will leave the machine, with the places
where a secret was replaced highlighted, and unticks what should stay. The
parts and the payload come from :mod:`vxassist.cases.sendable`; this widget
only shows them and keeps the ticks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vxassist.cases.sendable import SendPart, SpanKind
from vxassist.ui.case_common import heading, wrapped
from vxassist.ui.qt import Qt, QtGui, QtWidgets, Signal

_PART_ID = Qt.ItemDataRole.UserRole + 1
SECRET_COLOUR = "#ffe08a"
ALIAS_COLOUR = "#cfe3ff"


def _size_text(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


class WhatWillBeSent(QtWidgets.QWidget):
    """The parts of a request with a tick box each; the selected part's text on the right."""

    #: the set of unticked part ids, after every change
    ticks_changed = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._parts: dict[str, SendPart] = {}
        self._unticked: set[str] = set()
        self._filling = False

        intro = wrapped(
            self.tr(
                "This is exactly what leaves this computer. Passwords and other secrets "
                "are already replaced by ******** (highlighted). Untick anything you do "
                "not want to send: it stays on this computer."
            ),
            self,
        )
        self.list = QtWidgets.QListWidget(self)
        self.list.setAccessibleName(self.tr("Parts of the request"))
        self.list.setAccessibleDescription(
            self.tr("Each part has a tick box; press Space to tick or untick the selected part.")
        )
        self.list.setMinimumWidth(260)
        self.list.setWordWrap(True)
        self.list.setSpacing(3)
        self.list.currentItemChanged.connect(self._show_current)
        self.list.itemChanged.connect(self._item_changed)

        self.title = heading("", self, 1.1)
        self.note = wrapped("", self)
        self.viewer = QtWidgets.QPlainTextEdit(self)
        self.viewer.setReadOnly(True)
        self.viewer.setAccessibleName(self.tr("Exact text of the selected part"))
        self.viewer.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.WidgetWidth)
        mono = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
        self.viewer.setFont(mono)
        self.viewer.setTabChangesFocus(True)
        self.viewer.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByKeyboard
            | Qt.TextInteractionFlag.TextSelectableByMouse
        )

        right = QtWidgets.QWidget(self)
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.note)
        right_layout.addWidget(self.viewer, 1)

        splitter = QtWidgets.QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.list)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(intro)
        layout.addWidget(splitter, 1)

    # --- content ---------------------------------------------------------------------

    def set_parts(self, parts: Sequence[SendPart], unticked: Iterable[str] = ()) -> None:
        """Show ``parts``; those in ``unticked`` start unticked (e.g. from a draft)."""
        current = self.current_part_id()
        self._parts = {p.id: p for p in parts}
        self._unticked = {u for u in unticked if u in self._parts and self._parts[u].optional}
        self._filling = True
        try:
            self.list.clear()
            for part in parts:
                item = QtWidgets.QListWidgetItem(self._item_text(part), self.list)
                item.setData(_PART_ID, part.id)
                flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                if part.optional:
                    flags |= Qt.ItemFlag.ItemIsUserCheckable
                item.setFlags(flags)
                checked = part.id not in self._unticked
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                item.setToolTip(part.note)
                if not part.optional:
                    item.setToolTip(self.tr("Always sent: it is your request."))
        finally:
            self._filling = False
        self.select(current if current in self._parts else next(iter(self._parts), ""))

    def update_part(self, part: SendPart) -> None:
        """Replace one part's text (the contents list changes with the ticks)."""
        if part.id not in self._parts:
            return
        self._parts[part.id] = part
        if self.current_part_id() == part.id:
            self._render(part)

    def _item_text(self, part: SendPart) -> str:
        lines = [part.title, _size_text(part.size)]
        if part.secrets_replaced == 1:
            lines[1] += " · " + self.tr("1 secret replaced")
        elif part.secrets_replaced:
            lines[1] += " · " + self.tr("{n} secrets replaced").format(n=part.secrets_replaced)
        if not part.optional:
            lines[1] += " · " + self.tr("always sent")
        return "\n".join(lines)

    def unticked(self) -> frozenset[str]:
        return frozenset(self._unticked)

    def parts(self) -> list[SendPart]:
        return list(self._parts.values())

    def current_part_id(self) -> str:
        item = self.list.currentItem()
        return str(item.data(_PART_ID)) if item is not None else ""

    def item_for(self, part_id: str) -> QtWidgets.QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(_PART_ID) == part_id:
                return item
        return None

    def select(self, part_id: str) -> None:
        item = self.item_for(part_id)
        if item is not None:
            self.list.setCurrentItem(item)

    def set_ticked(self, part_id: str, ticked: bool) -> None:
        item = self.item_for(part_id)
        if item is not None and item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
            item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    # --- reactions ---------------------------------------------------------------------

    def _item_changed(self, item: QtWidgets.QListWidgetItem) -> None:
        if self._filling:
            return
        part_id = str(item.data(_PART_ID))
        part = self._parts.get(part_id)
        if part is None or not part.optional:
            return
        before = set(self._unticked)
        if item.checkState() == Qt.CheckState.Checked:
            self._unticked.discard(part_id)
        else:
            self._unticked.add(part_id)
        if before != self._unticked:
            if self.current_part_id() == part_id:
                self._render(part)
            self.ticks_changed.emit(frozenset(self._unticked))

    def _show_current(self, item: QtWidgets.QListWidgetItem | None, _previous: object) -> None:
        if item is None:
            return
        part = self._parts.get(str(item.data(_PART_ID)))
        if part is not None:
            self._render(part)

    def _render(self, part: SendPart) -> None:
        self.title.setText(part.title)
        self.title.setAccessibleName(part.title)
        note = part.note[:1].upper() + part.note[1:]
        if part.id in self._unticked:
            note += ". " + self.tr("Unticked: this part stays on this computer.")
        elif part.secrets_replaced:
            note += ". " + self.tr("The highlighted ******** stand for secrets that are not sent.")
        self.note.setText(note)
        self.viewer.setPlainText(_shown(part.text))
        selections = []
        for span in part.spans:
            selection = QtWidgets.QTextEdit.ExtraSelection()
            cursor = QtGui.QTextCursor(self.viewer.document())
            cursor.setPosition(_qt_position(part.text, span.start))
            cursor.setPosition(
                _qt_position(part.text, span.end), QtGui.QTextCursor.MoveMode.KeepAnchor
            )
            selection.cursor = cursor
            fmt = QtGui.QTextCharFormat()
            colour = SECRET_COLOUR if span.kind is SpanKind.SECRET else ALIAS_COLOUR
            fmt.setBackground(QtGui.QColor(colour))
            fmt.setForeground(QtGui.QColor("#000000"))
            selection.format = fmt
            selections.append(selection)
        self.viewer.setExtraSelections(selections)
        self.viewer.setEnabled(part.id not in self._unticked)

    def highlighted_texts(self) -> list[str]:
        """The texts highlighted in the viewer now (for tests and screen readers)."""
        return [s.cursor.selectedText() for s in self.viewer.extraSelections()]


def _shown(text: str) -> str:
    """The text as the viewer holds it (line ends as one character)."""
    return text.replace("\r\n", "\n")


def _qt_position(text: str, index: int) -> int:
    """Python's index into ``text`` as a position in the viewer (UTF-16 units)."""
    return len(_shown(text[:index]).encode("utf-16-le")) // 2
