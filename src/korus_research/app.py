"""The explorer as a Bokeh server app: ``make app`` (``python -m korus_research.app --show``).

The same controls and outputs as the ipywidgets panel (:meth:`korus_research.explorer.Explorer.widgets`),
on the same core (:class:`korus_research.explorer.Explorer`): the economist picks a study
(partner, entry date, base and compare years, control group), or one already in the results
store, and which designs and estimators count; the page shows the headline, the attribution,
every estimate of the agreement's effect with its interval (a figure and a table), the
sensitivity of the headline and the additive accounting. A study missing from the store is run
on demand (the same command as ``make study``) with a progress bar, into its own folder; the
default study's folder is only read.

Options: ``--port`` (default 5006; 0 picks a free one), ``--address`` (default localhost),
``--show`` (open the page in the system browser).
"""

from __future__ import annotations

import argparse
import html
import socket
import sys
import threading
from functools import partial

import numpy as np
import pandas as pd

from . import explorer as core
from .errors import KorusError
from .explorer import DESIGN_NAMES, RUN_NOTEBOOKS, Explorer, View
from .study import Study

#: Colours of the diagnostics (as in the report's specification curve).
COLOURS = {"passed": "#1b7837", "failed": "#b2182b", "not tested": "#737373"}
#: Width of the numeric and text columns of the tables, pixels.
NUMBER_WIDTH, TEXT_WIDTH, WIDE_TEXT = 95, 160, 380
_LABEL = 46  # characters of an estimator's name on the figure's axis


def _year_options(derived: int | None) -> list[tuple[str, str]]:
    return [("0", f"derived ({derived})" if derived else "derived")] + [(str(y), str(y)) for y in core.YEARS]


def _table_source(frame: pd.DataFrame) -> dict:
    return {f"c{j}": [str(v) for v in frame.iloc[:, j]] for j in range(frame.shape[1])}


class ExplorerApp:
    """One browser session of the explorer: its Bokeh models (attributes) and callbacks.

    ``doc`` may be ``None`` (a test builds the app without a server; a run then updates the page
    directly instead of through the document's next tick).
    """

    def __init__(self, doc=None, explorer: Explorer | None = None, partner: str = core.DEFAULT_PARTNER):
        from bokeh.layouts import column, row
        from bokeh.models import (
            Button,
            CheckboxGroup,
            Div,
            MultiChoice,
            Progress,
            Select,
            TabPanel,
            Tabs,
            TextInput,
        )

        self.doc = doc
        self.explorer = explorer or Explorer()
        self.view: View | None = None
        self._busy = False
        self._cancel = threading.Event()
        self.stored = Select(title="A study in the results store", options=self._stored_options(), value="",
                             sizing_mode="stretch_width")
        self.partner = Select(title="Partner", options=[(code, label) for label, code in core.partner_choices()],
                              value=partner, sizing_mode="stretch_width")
        self.entry = TextInput(title="Entry into force (YYYY-MM-DD; blank: the agreements table)", value="",
                               sizing_mode="stretch_width")
        self.base = Select(title="Base year", options=_year_options(None), value="0", sizing_mode="stretch_width")
        self.compare = Select(title="Compare year", options=_year_options(None), value="0",
                              sizing_mode="stretch_width")
        self.controls = TextInput(title="Control group ('default' or ISO3 codes, comma-separated)", value="default",
                                  sizing_mode="stretch_width")
        self.run = Button(label="Run this study", button_type="primary", disabled=True)
        self.stop = Button(label="Cancel the run", disabled=True)
        self.progress = Progress(value=0, min=0, max=len(RUN_NOTEBOOKS) + 1, label="@{value} of @{max} steps",
                                 sizing_mode="stretch_width", visible=False)
        self.progress_text = Div(text="", sizing_mode="stretch_width", styles={"font-size": "0.85em"})
        self.designs = CheckboxGroup(labels=[f"{k + 1}. {name}" for k, name in enumerate(DESIGN_NAMES)],
                                     active=list(range(len(DESIGN_NAMES))))
        self.exclude = MultiChoice(title="Estimators set aside one by one", options=[], value=[],
                                   sizing_mode="stretch_width")
        self.status = Div(text="", sizing_mode="stretch_width")
        self.headline = Div(text="", sizing_mode="stretch_width")
        self.attribution = self._table([("component", WIDE_TEXT)], height=230)
        self.estimates = self._table([("estimator", WIDE_TEXT)], height=420)
        self.sensitivity = self._table([("scenario", WIDE_TEXT)], height=170)
        self.accounting = self._table([("component", WIDE_TEXT)], height=280)
        self.figure, self._points, self._segments = self._make_figure()
        self.caption = Div(text="", sizing_mode="stretch_width", styles={"font-size": "0.85em", "color": "#444"})
        tabs = Tabs(tabs=[TabPanel(child=self.estimates, title="Every estimate of the agreement's effect (table)"),
                          TabPanel(child=self.accounting, title="Additive accounting (cross-check)")],
                    sizing_mode="stretch_width")
        self.reset = Button(label="Count every design (the report's rule)")
        intro = Div(text="<h2 style='margin:0'>KORUS explorer: the US goods balance with a partner</h2>"
                         "<p style='margin:4px 0;color:#444'>Results are read from the results store "
                         "(<code>data/processed/results/</code>); nothing is re-estimated. A study not in the store "
                         "runs into its own folder, never into the default study's.</p>",
                    sizing_mode="stretch_width")
        left = column(Div(text="<b>Study</b>"), self.stored, self.partner, self.entry, row(self.base, self.compare),
                      self.controls, row(self.run, self.stop), self.progress, self.progress_text,
                      Div(text="<b>Which estimators count</b><br><span style='font-size:0.85em;color:#555'>designs, "
                               "best-ranked first: the headline is the best-ranked counted design that passes its "
                               "own check with a 95% interval</span>"),
                      self.designs, self.exclude, self.reset, width=360)
        self.outputs = column(self.headline,
                       Div(text="<b>Attribution of the change in the US goods balance (US$ bn; built on the "
                                "structural account, as in the report)</b>"),
                       self.attribution,
                       Div(text="<b>Sensitivity of the headline</b>: the headline if each chosen design in turn "
                                "were not believed (US$ bn; what is left absorbs the change)"),
                       self.sensitivity, self.figure, self.caption, tabs, sizing_mode="stretch_width")
        right = column(self.status, self.outputs, sizing_mode="stretch_width")
        self.layout = column(intro, row(left, right, sizing_mode="stretch_width"), sizing_mode="stretch_width")
        for widget in (self.partner, self.entry, self.base, self.compare, self.controls):
            widget.on_change("value", self._study_callback(widget))
        self.designs.on_change("active", lambda attr, old, new: self._on_counts())
        self.exclude.on_change("value", lambda attr, old, new: self._on_counts())
        self.stored.on_change("value", lambda attr, old, new: self._on_stored())
        self.run.on_click(self._on_run)
        self.reset.on_click(self._on_reset)
        self.stop.on_click(lambda: self._cancel.set())
        self._on_study(None)
        if doc is not None:
            doc.title = "KORUS explorer"
            doc.add_root(self.layout)

    # -------------------------------------------------------------- building
    @staticmethod
    def _table(columns: list[tuple[str, int]], height: int):
        from bokeh.models import ColumnDataSource, DataTable, StringFormatter, TableColumn

        source = ColumnDataSource({f"c{j}": [] for j in range(len(columns))})
        cols = [TableColumn(field=f"c{j}", title=t, width=w, formatter=StringFormatter())
                for j, (t, w) in enumerate(columns)]
        return DataTable(source=source, columns=cols, height=height, index_position=None, sortable=False,
                         autosize_mode="none", sizing_mode="stretch_width")

    @staticmethod
    def _make_figure():
        from bokeh.models import ColumnDataSource, HoverTool, Span
        from bokeh.plotting import figure

        points = ColumnDataSource({k: [] for k in ("y", "estimate", "colour", "alpha", "estimator", "design",
                                                   "interval", "diagnostics", "counts", "ring")})
        segments = ColumnDataSource({k: [] for k in ("y", "x0", "x1", "colour", "alpha")})
        fig = figure(height=420, sizing_mode="stretch_width", y_range=[""], toolbar_location="right",
                     tools="xpan,xwheel_zoom,reset,save", title="Every estimate of the agreement's effect, with its "
                     "interval")
        fig.segment(x0="x0", x1="x1", y0="y", y1="y", color="colour", alpha="alpha", line_width=2, source=segments)
        dots = fig.scatter(x="estimate", y="y", color="colour", alpha="alpha", size=9, source=points)
        fig.scatter(x="estimate", y="y", size="ring", fill_color=None, line_color="black", line_width=2,
                    source=points)
        fig.add_layout(Span(location=0, dimension="height", line_color="black", line_width=1))
        fig.add_tools(HoverTool(renderers=[dots], tooltips=[("estimator", "@estimator"), ("design", "@design"),
                                                            ("estimate, US$ bn", "@estimate{0,0.0}"),
                                                            ("95% interval", "@interval"),
                                                            ("diagnostics", "@diagnostics"), ("counts", "@counts")]))
        fig.xaxis.axis_label = "effect on the US goods balance, US$ billion (95% interval where the design gives one)"
        fig.yaxis.major_label_text_font_size = "9pt"
        fig.min_border_left = 10
        return fig, points, segments

    def _stored_options(self) -> list[tuple[str, str]]:
        table = self.explorer.available()
        options = [("", "choose a study in the store…")]
        for r in table[table["complete"]].itertuples():
            options.append((str(r.folder), f"{r.study_id} · {r.partner} {r.base_year}→{r.compare_year}, controls "
                                           f"{r.controls}" + (" (the default study)" if r.where == "default study"
                                                              else "")))
        return options

    # -------------------------------------------------------------- callbacks
    def _on_stored(self) -> None:
        from pathlib import Path

        from .results import load_study

        if not self.stored.value:
            return
        study = load_study(Path(self.stored.value))
        p = study.parameters()
        self._busy = True
        try:
            self.partner.value = study.partner
            self.entry.value = p["entry"] if study.entry_source.startswith("override") else ""
            self.base.value, self.compare.value = str(study.base_year), str(study.compare_year)
            self.controls.value = study.controls
        finally:
            self._busy = False
        self._on_study(None)

    def _study_callback(self, widget):
        def callback(attr, old, new):
            self._on_study(widget)
        return callback

    def _on_study(self, widget) -> None:
        if self._busy:
            return
        if widget is self.partner:
            self._busy = True
            try:  # another partner: its own derived years and entry date
                self.entry.value, self.base.value, self.compare.value = "", "0", "0"
            finally:
                self._busy = False
        try:
            derived = Study.build(self.partner.value, entry=self.entry.value.strip())
            self._busy = True
            try:
                self.base.options = _year_options(derived.base_year)
                self.compare.options = _year_options(derived.compare_year)
            finally:
                self._busy = False
            sel = self.explorer.select(self.partner.value, int(self.base.value), int(self.compare.value),
                                       self.controls.value, self.entry.value.strip())
        except KorusError as err:
            self._clear(f"<p style='color:#b2182b'>{html.escape(str(err))}</p>")
            self.run.disabled = True
            return
        style = "margin:2px 0" if sel.exists else "margin:2px 0;padding:8px;background:#fff4d6;border-left:5px solid #e0a800"
        self.status.text = f"<p id='status' style='{style}'>{html.escape(sel.describe())}</p>"
        self.run.disabled = sel.exists or sel.study.study_id in core._RUNNING
        if not sel.exists:
            self._clear(self.status.text)
            return
        estimators = self.explorer.estimators()
        self._busy = True
        try:
            self.exclude.options = estimators
            self.exclude.value = [e for e in self.exclude.value if e in estimators]
        finally:
            self._busy = False
        self._on_counts()

    def _on_counts(self) -> None:
        if self._busy or self.explorer.selection is None or not self.explorer.selection.exists:
            return
        designs = [DESIGN_NAMES[k] for k in sorted(self.designs.active)]
        try:
            view = self.explorer.view(designs, self.exclude.value)
        except KorusError as err:
            self._clear(f"<p style='color:#b2182b'>{html.escape(str(err))}</p>")
            return
        self.view = view
        self.outputs.visible = True
        tables = view.tables()
        colour = "#b2182b" if view.changed else "#1b7837"
        self.headline.text = (f"<p id='headline' style='font-size:1.15em;border-left:5px solid {colour};"
                              f"padding:4px 10px;margin:4px 0;background:#f7f7f7'>{html.escape(view.headline_text())}</p>")
        self._fill(self.attribution, tables["attribution"])
        self._fill(self.estimates, tables["estimates"])
        self._fill(self.sensitivity, tables["sensitivity"])
        self._fill(self.accounting, tables["accounting"])
        self._draw(view)

    def _on_reset(self) -> None:
        self._busy = True
        try:
            self.designs.active = list(range(len(DESIGN_NAMES)))
            self.exclude.value = []
        finally:
            self._busy = False
        self._on_counts()

    @staticmethod
    def _fill(table, frame: pd.DataFrame) -> None:
        """Show a formatted table (columns rebuilt only when the headers change).

        The table gets a new ``ColumnDataSource`` each time: Bokeh 3.9.1-3.9.2 do not redraw a
        ``DataTable`` whose source's data change (bokeh/bokeh#15328), but do redraw one whose source
        is replaced.
        """
        from bokeh.models import ColumnDataSource, StringFormatter, TableColumn

        titles = [str(t) for t in frame.columns]
        if [c.title for c in table.columns] != titles:
            columns = []
            for j, title in enumerate(titles):
                numeric = bool(len(frame)) and frame.iloc[:, j].map(core._is_number_text).all()
                longest = max(len(str(v)) for v in frame.iloc[:, j]) if len(frame) else 0
                width = (min(210, max(NUMBER_WIDTH, 7 * len(title) + 6)) if numeric
                         else min(WIDE_TEXT, max(70, 7 * max(longest, len(title)))))
                columns.append(TableColumn(field=f"c{j}", title=title, width=width,
                                           formatter=StringFormatter(text_align="right" if numeric else "left")))
            table.columns = columns
        table.source = ColumnDataSource(_table_source(frame))

    def _draw(self, view: View) -> None:
        est = view.estimates
        labels, seen = [], set()
        for name in est["estimator"]:
            label = name if len(name) <= _LABEL else name[:_LABEL - 1] + "…"
            while label in seen:
                label += " "
            seen.add(label)
            labels.append(label)
        has = est["interval"].eq("95% CI") & est[["ci_low", "ci_high"]].notna().all(axis=1)
        values = pd.concat([est["estimate"], est.loc[has, "ci_low"], est.loc[has, "ci_high"]]).dropna()
        # a very wide interval would squeeze every other one: the axis stops at +-limit (pan or zoom to see more)
        limit = max(20.0, 3 * float(est["estimate"].abs().max()) if len(est) else 20.0)
        limit = min(limit, float(values.abs().max()) * 1.05) if len(values) else limit
        colours = [COLOURS.get(d, "#737373") for d in est["diagnostics"]]
        alpha = np.where(est["counts"], 1.0, 0.2).tolist()
        self._points.data = {
            "y": labels, "estimate": est["estimate"].tolist(), "colour": colours, "alpha": alpha,
            "estimator": est["estimator"].tolist(), "design": est["design"].tolist(),
            "interval": [f"{core._bn(lo, False)} to {core._bn(hi, False)}" if h else "none"
                         for lo, hi, h in zip(est["ci_low"], est["ci_high"], has, strict=True)],
            "diagnostics": est["diagnostics"].tolist(),
            "counts": ["yes" if c else "no (set aside)" for c in est["counts"]],
            "ring": [18 if h else 0 for h in est["headline"]]}
        self._segments.data = {"y": [lab for lab, h in zip(labels, has, strict=True) if h],
                               "x0": est.loc[has, "ci_low"].tolist(), "x1": est.loc[has, "ci_high"].tolist(),
                               "colour": [c for c, h in zip(colours, has, strict=True) if h],
                               "alpha": [a for a, h in zip(alpha, has, strict=True) if h]}
        self.figure.y_range.factors = list(reversed(labels))
        self.figure.x_range.start, self.figure.x_range.end = -limit, limit
        self.figure.height = max(260, 28 * len(labels) + 110)
        self.figure.title.text = (f"Every estimate of the agreement's effect on the {view.study.compare_year} US goods "
                                  f"balance with {view.study.partner} (US$ bn, 95% intervals)")
        wider = int((has & ((est["ci_low"] < -limit) | (est["ci_high"] > limit))).sum())
        self.caption.text = (
            "<span style='color:#1b7837'>●</span> passed its design's check, <span style='color:#b2182b'>●</span> "
            "failed it, <span style='color:#737373'>●</span> not tested; faded: set aside (does not count); "
            "ringed: the headline. "
            + (f"{wider} interval{'s' if wider > 1 else ''} run beyond the axis (±{limit:.0f} bn): hover over a point "
               "or zoom out to see it. " if wider else "")
            + f"Source: the study's estimate table ({html.escape(core._relative(self.explorer.selection.folder))}), "
              "notebooks 03-05 and 07.")

    def _clear(self, message: str) -> None:
        self.view = None
        self.outputs.visible = False
        self.status.text = message
        self.headline.text = ""
        for table in (self.attribution, self.estimates, self.sensitivity, self.accounting):
            self._fill(table, pd.DataFrame(columns=[c.title for c in table.columns]))
        self.caption.text = ""
        self._points.data = {k: [] for k in self._points.data}
        self._segments.data = {k: [] for k in self._segments.data}
        self.figure.y_range.factors = [""]

    # -------------------------------------------------------------- a run
    def _on_run(self) -> None:
        self.run.disabled, self.stop.disabled, self.progress.visible = True, False, True
        self.status.text = (f"<p id='status' style='margin:2px 0;padding:8px;background:#e8f1fb;border-left:5px solid "
                            f"#2c7fb8'>running {html.escape(str(self.explorer.selection.study))}: the tables appear "
                            "when it finishes (the page may be left open; a reload shows the store as it is)</p>")
        self._cancel.clear()
        self.progress.value = 0
        threading.Thread(target=self.run_now, daemon=True).start()

    def _later(self, func, *args) -> None:
        if self.doc is None:
            func(*args)
        else:
            self.doc.add_next_tick_callback(partial(func, *args))

    def run_now(self) -> None:
        """Run the selected study (what the Run button does, in a thread), updating the progress bar."""
        def progress(done: int, total: int, message: str) -> None:
            self._later(self._show_progress, done, total, message)

        error = None
        try:
            self.explorer.run_missing(progress, cancel=self._cancel)
        except KorusError as err:
            error = str(err)
        self._later(self._after_run, error)

    def _show_progress(self, done: int, total: int, message: str) -> None:
        self.progress.max, self.progress.value = total, done
        self.progress_text.text = html.escape(message)

    def _after_run(self, error: str | None) -> None:
        self.stop.disabled = True
        if error:
            self.progress_text.text = f"<span style='color:#b2182b'>{html.escape(error)}</span>"
        self.stored.options = self._stored_options()
        self._on_study(None)


def make_document(doc) -> None:
    """The Bokeh application: one :class:`ExplorerApp` per browser session."""
    ExplorerApp(doc)


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m korus_research.app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5006, help="port (0: a free one); default 5006")
    parser.add_argument("--address", default="localhost", help="address to listen on; default localhost")
    parser.add_argument("--show", action="store_true", help="open the page in the system browser")
    args = parser.parse_args(argv)
    from bokeh.server.server import Server

    port = args.port or free_port()
    origins = [f"localhost:{port}", f"127.0.0.1:{port}", f"{args.address}:{port}"]
    core.partner_choices()  # warm the partner list before the first page
    server = Server({"/": make_document}, port=port, address=args.address, allow_websocket_origin=origins,
                    num_procs=1)
    server.start()
    print(f"KORUS explorer on http://localhost:{port}/ (Ctrl-C stops it)", flush=True)
    if args.show:
        server.io_loop.add_callback(server.show, "/")
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        print("explorer stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
