"""Which line of the generated code made each matplotlib artist, and which line last changed it.

Matplotlib marks an artist `stale` whenever one of its properties changes, so patching the
`Artist.stale` setter (and `Artist.__init__` for creation) sees every change without listing
setters. The innermost `<generated>` frame on the stack at that moment is the responsible line:
`ax.set_title("x")` changes the title Text that `plt.subplots()` created, so the title is made
at the subplots line and changed at the set_title line. Recording stops before drawing, so
draw-time work (tick labels made by the formatter) is not blamed on the last line that ran.

Tick labels are made lazily at draw time; they fall back to their axis's trace: the line that
made the axes and the last tick-shaping call (`set_*ticks*`, `tick_params`, formatter/locator
changes, or a plotting call whose categorical or date data set the axis units). A categorical
label keeps the call that added its category: of two bar calls on one axis, the one whose long
names crowd the axis is blamed, not the first.
"""

from __future__ import annotations

import functools

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from render_service.generated import current_generated_line

_TICK_METHODS = (
    "set_ticks",
    "set_ticklabels",
    "set_tick_params",
    "set_major_formatter",
    "set_minor_formatter",
    "set_major_locator",
    "set_minor_locator",
)
_MADE, _CHANGED, _TICKS = "_trace_made", "_trace_changed", "_trace_ticks"
_CATEGORIES = "_trace_categories"  # category name -> the line whose data added it
_LIMITS = "_trace_limits"  # the last call that set the axes' view limits
_COLOR = "_trace_color"  # the last call that set the artist's colour or opacity
# Colour setters, also behind constructors' color= and plt.setp: a later restyle of the same
# artist (its width, its size) is not what made it faint.
_COLOR_METHODS = (
    (Artist, "set_alpha"),
    (Text, "set_color"),
    (Line2D, "set_color"),
    (Line2D, "set_markerfacecolor"),
    (Patch, "set_facecolor"),
    (Patch, "set_color"),
    (Collection, "set_facecolor"),
    (Collection, "set_color"),
)
_LAYOUT, _PLACED = "_trace_layout", "_trace_placed"
# Calls that move or resize a container; any child change also marks a container stale, so
# its placement is traced through these instead.
_PLACING_METHODS = (
    (Axes, "_set_position"),  # behind set_position, subplots_adjust and tight_layout
    (Axes, "set_subplotspec"),
    (Figure, "set_size_inches"),
)
# Inside these matplotlib changes things itself: only placements are the code's (tight_layout).
_LAYING_OUT_METHODS = (
    (Figure, "tight_layout"),
    (Figure, "get_tightbbox"),
    (Axes, "get_tightbbox"),
)


class Tracer:
    """Installs the hooks in this (sandboxed) process; `stop()` before drawing.

    While the code asks matplotlib to lay out (`tight_layout()`), matplotlib updates titles and
    ticks itself: those are not the code's changes, so only placements are recorded then. While
    the code draws (`canvas.draw()`, `plt.savefig` redraws) nothing is recorded.
    """

    def __init__(self):
        self.recording = False
        self.quiet = 0  # > 0 inside a layout call made by the code
        self.silent = 0  # > 0 inside a draw: nothing there is the code's doing

    def line(self, placement: bool = False) -> int | None:
        if not self.recording or self.silent or (self.quiet and not placement):
            return None
        return current_generated_line()

    def install(self) -> None:
        tracer = self
        original_init = Artist.__init__
        original_stale = Artist.stale

        @functools.wraps(original_init)
        def init(artist, *args, **kwargs):
            original_init(artist, *args, **kwargs)
            if tracer.recording and getattr(artist, _MADE, None) is None:
                setattr(artist, _MADE, current_generated_line())

        nesting = [0]

        def set_stale(artist, value):
            nesting[0] += 1  # a child's change propagates up as its parents' stale = True
            try:
                original_stale.fset(artist, value)
            finally:
                nesting[0] -= 1
            if value and nesting[0] == 0:
                line = tracer.line()
                if line is not None:
                    artist.__dict__[_CHANGED] = line

        original_units = Axis.update_units

        @functools.wraps(original_units)
        def update_units(axis, data):
            has_units = original_units(axis, data)  # categorical or date data set the ticks
            line = tracer.line()
            if has_units and line is not None:
                setattr(axis, _TICKS, line)
            return has_units

        original_convert = Axis.convert_units

        @functools.wraps(original_convert)
        def convert_units(axis, x):
            known = set(_categories(axis))
            converted = original_convert(axis, x)  # adds categories it has not seen
            line = tracer.line()
            if line is not None:
                added = {name: line for name in _categories(axis) if name not in known}
                axis.__dict__.setdefault(_CATEGORIES, {}).update(added)
            return converted

        Artist.__init__ = init
        Artist.stale = property(original_stale.fget, set_stale)
        Axis.update_units = update_units
        Axis.convert_units = convert_units
        for name in _TICK_METHODS:
            setattr(Axis, name, _recording(getattr(Axis, name), tracer, _TICKS))
        for owner, name in _PLACING_METHODS:
            setattr(owner, name, _recording(getattr(owner, name), tracer, _PLACED, True))
        for owner, name in _COLOR_METHODS:
            setattr(owner, name, _recording(getattr(owner, name), tracer, _COLOR))
        for name in ("set_xlim", "set_ylim"):
            setattr(Axes, name, _recording(getattr(Axes, name), tracer, _LIMITS))
        Figure.set_layout_engine = _recording(Figure.set_layout_engine, tracer, _LAYOUT, True)
        for owner, name in _LAYING_OUT_METHODS:
            setattr(owner, name, _counting(getattr(owner, name), tracer, "quiet"))
        Figure.draw = _counting(Figure.draw, tracer, "silent")
        self.recording = True

    def stop(self) -> None:
        self.recording = False


def _recording(method, tracer: Tracer, attribute: str, placement: bool = False):
    """Wrap `method` to note the calling generated line on its object as `attribute`."""

    @functools.wraps(method)
    def wrapper(owner, *args, **kwargs):
        line = tracer.line(placement)
        if line is not None:
            setattr(owner, attribute, line)
        return method(owner, *args, **kwargs)

    return wrapper


def _counting(method, tracer: Tracer, counter: str):
    """Wrap `method` to raise `tracer.<counter>` while it runs."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        setattr(tracer, counter, getattr(tracer, counter) + 1)
        try:
            return method(*args, **kwargs)
        finally:
            setattr(tracer, counter, getattr(tracer, counter) - 1)

    return wrapper


def placed_lines(artist) -> tuple[int, ...]:
    """The last call that moved or resized an axes or figure, if the code made one."""
    return _unique(getattr(artist, _PLACED, None))


def made_line(artist) -> int | None:
    return getattr(artist, _MADE, None)


def lines_of(artist) -> tuple[int, ...]:
    """(made, last changed) lines of an artist, without repeats or unknowns; for axes and
    figures the last placing call stands for the last change (see responsible_lines)."""
    if isinstance(artist, Axes | Figure):
        return _unique(made_line(artist), getattr(artist, _PLACED, None))
    return _unique(made_line(artist), artist.__dict__.get(_CHANGED))


def responsible_lines(artist) -> tuple[int, ...]:
    """The lines to blame for how the artist looks: the last change, else where it was made.

    Axes and figures are blamed for where they are, so their last placing call counts instead.
    """
    if isinstance(artist, Axes | Figure):
        return _unique(getattr(artist, _PLACED, None)) or _unique(made_line(artist))
    changed = artist.__dict__.get(_CHANGED)
    return (changed,) if changed is not None else _unique(getattr(artist, _MADE, None))


def color_lines(artist) -> tuple[int, ...]:
    """The last call that set the artist's colour, else the lines to blame for its look."""
    return _unique(artist.__dict__.get(_COLOR)) or responsible_lines(artist)


def background_lines(ax: Axes, inside: bool = True) -> tuple[int, ...]:
    """Calls that recoloured the face behind an artist of `ax` after making it: the axes' own
    (for artists `inside` it) and its figure's. A colour set while making the figure is
    matplotlib's default, or the code's choice on that line."""
    figure = ax.get_figure(root=True).patch
    patches = (ax.patch, figure) if inside else (figure,)
    return _unique(
        *(
            line
            for patch in patches
            if (line := patch.__dict__.get(_COLOR)) is not None and line != made_line(patch)
        )
    )


def limit_lines(ax: Axes) -> tuple[int, ...]:
    """The last call that set the axes' x or y limits, if the code made one."""
    return _unique(getattr(ax, _LIMITS, None))


def layout_lines(fig: Figure) -> tuple[int, ...]:
    """Where the figure's layout engine was chosen (tight_layout(), layout=...), else made."""
    return _unique(getattr(fig, _LAYOUT, None)) or _unique(made_line(fig))


def tick_label_lines(label, axis: Axis) -> tuple[int, ...]:
    """A tick label the code changed itself keeps that line; else its axis's trace.

    A change on the line that made the label is matplotlib setting it up, not the code.
    """
    changed = label.__dict__.get(_CHANGED)
    if changed == made_line(label):
        changed = None
    category = axis.__dict__.get(_CATEGORIES, {}).get(label.get_text())
    axes_made = made_line(axis.axes)
    return (
        _unique(changed)
        or _unique(category)
        or _unique(getattr(axis, _TICKS, None))
        or _unique(axes_made)
    )


def _categories(axis: Axis) -> list[str]:
    """The axis's category names so far, when its units are categorical."""
    mapping = getattr(axis.units, "_mapping", None)
    return [str(name) for name in mapping] if mapping is not None else []


def _unique(*lines) -> tuple[int, ...]:
    return tuple(dict.fromkeys(line for line in lines if line is not None))


def made_lines(artist) -> tuple[int, ...]:
    return _unique(made_line(artist))
