"""A song's family tree as a picture: what it was made from, what was made from it, who made each step.

`gather_family` collects the tree from the database (parents by `parent_song_id`, children by the
`songs_by_parent` index; a jam's takes chain one after another, since each new take of a jam is made
from the same lines plus more); `family_svg` draws it as inline SVG with every member-written text
escaped. Songs the viewer may not see stay in the tree as a locked box without title or link, so
the shape is honest without telling what is in a private channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from markupsafe import Markup

from bot.songs.render import clip, display_title
from bot.storage.repository import Repository, SongRow

MAX_ANCESTORS = 8
MAX_DEPTH = 3
"""Generations below the song that are drawn."""
MAX_NODES = 40
NODE_W, NODE_H, GAP_X, GAP_Y = 200, 56, 24, 44


@dataclass
class Family:
    """The tree: `root` is the oldest ancestor found; `children` maps a song id to its children's ids."""

    song: SongRow
    songs: dict[str, SongRow] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    jam_edges: set[tuple[str, str]] = field(default_factory=set)
    root: str = ""
    ancestors: list[SongRow] = field(default_factory=list)
    """From the parent up to the root."""
    descendants: list[SongRow] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.songs)


async def gather_family(repo: Repository, song: SongRow) -> Family:
    family = Family(song=song, songs={song.id: song})
    jam = await repo.jam_takes(song)
    jam_index = {take.id: index for index, take in enumerate(jam)}

    def jam_previous(item: SongRow) -> SongRow | None:
        index = jam_index.get(item.id)
        return jam[index - 1] if index else None

    def link(parent: SongRow, child: SongRow, *, by_jam: bool) -> None:
        family.songs.setdefault(parent.id, parent)
        family.songs.setdefault(child.id, child)
        kids = family.children.setdefault(parent.id, [])
        if child.id not in kids:
            kids.append(child.id)
        if by_jam:
            family.jam_edges.add((parent.id, child.id))

    current = song
    while len(family.ancestors) < MAX_ANCESTORS:
        parent = await repo.song(current.parent_song_id) if current.parent_song_id else jam_previous(current)
        if parent is None or parent.guild_id != song.guild_id or parent.id in family.songs:
            break
        link(parent, current, by_jam=current.parent_song_id is None)
        family.ancestors.append(parent)
        current = parent
    family.root = current.id

    frontier = [song]
    for _ in range(MAX_DEPTH):
        found: list[tuple[SongRow, SongRow, bool]] = []
        parents = {item.id: item for item in frontier}
        for child in await repo.children_of(list(parents)):
            if child.kind != "stems" and child.guild_id == song.guild_id:
                found.append((parents[child.parent_song_id or ""], child, False))
        for item in frontier:
            index = jam_index.get(item.id)
            if index is not None and index + 1 < len(jam):
                found.append((item, jam[index + 1], True))
        frontier = []
        for parent, child, by_jam in found:
            if child.id in family.songs or family.size >= MAX_NODES:
                continue
            link(parent, child, by_jam=by_jam)
            family.descendants.append(child)
            frontier.append(child)
        if not frontier:
            break
    return family


def _positions(family: Family) -> dict[str, tuple[float, int]]:
    """(column, generation) per song: leaves take the next free column, a parent sits over its children."""
    placed: dict[str, tuple[float, int]] = {}
    next_column = [0.0]

    def place(song_id: str, depth: int) -> float:
        kids = family.children.get(song_id, [])
        if not kids:
            column = next_column[0]
            next_column[0] += 1
        else:
            columns = [place(kid, depth + 1) for kid in kids]
            column = (columns[0] + columns[-1]) / 2
        placed[song_id] = (column, depth)
        return column

    place(family.root, 0)
    return placed


def family_svg(
    family: Family,
    *,
    visible: Callable[[SongRow], bool],
    names: Mapping[int, str],
    href: Callable[[SongRow], str],
) -> Markup:
    """The tree as an `<svg>`; each song a box (a link when the viewer may open it)."""
    placed = _positions(family)
    columns = max(column for column, _ in placed.values()) + 1
    depth = max(generation for _, generation in placed.values()) + 1
    width = int(columns * (NODE_W + GAP_X) + GAP_X)
    height = int(depth * (NODE_H + GAP_Y))

    def corner(song_id: str) -> tuple[float, float]:
        column, generation = placed[song_id]
        return GAP_X + column * (NODE_W + GAP_X), GAP_Y / 2 + generation * (NODE_H + GAP_Y)

    parts = [
        Markup(
            '<svg class="family" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            'role="group" aria-label="Family tree">'
        ).format(w=width, h=height)
    ]
    for parent_id, kids in family.children.items():
        px, py = corner(parent_id)
        for kid in kids:
            kx, ky = corner(kid)
            start_x, start_y, end_x, end_y = px + NODE_W / 2, py + NODE_H, kx + NODE_W / 2, ky
            middle = (start_y + end_y) / 2
            dashed = " jam" if (parent_id, kid) in family.jam_edges else ""
            parts.append(
                Markup(
                    '<path class="edge{dashed}" d="M{sx:.0f},{sy:.0f} C{sx:.0f},{my:.0f} {ex:.0f},{my:.0f} '
                    '{ex:.0f},{ey:.0f}"/>'
                ).format(dashed=dashed, sx=start_x, sy=start_y, ex=end_x, ey=end_y, my=middle)
            )
    for song_id in placed:
        song = family.songs[song_id]
        x, y = corner(song_id)
        current = " current" if song_id == family.song.id else ""
        if not visible(song):
            parts.append(
                Markup(
                    '<g class="node hidden" transform="translate({x:.0f},{y:.0f})"><rect width="{w}" height="{h}" '
                    'rx="10"/><text x="12" y="33">A song you cannot see</text></g>'
                ).format(x=x, y=y, w=NODE_W, h=NODE_H)
            )
            continue
        title = clip(display_title(song, 60), 24)
        maker = clip(names.get(song.requester_id, "a member"), 16)
        how = "jam take" if any(edge[1] == song_id for edge in family.jam_edges) else song.action
        label = f"{display_title(song, 100)}, {how} by {names.get(song.requester_id, 'a member')}"
        box = Markup(
            '<g class="node{current}" transform="translate({x:.0f},{y:.0f})"><rect width="{w}" height="{h}" rx="10"/>'
            '<text class="title" x="12" y="23">{title}</text><text class="by" x="12" y="43">{how} · {maker}</text></g>'
        ).format(current=current, x=x, y=y, w=NODE_W, h=NODE_H, title=title, how=how, maker=maker)
        if current:
            parts.append(
                Markup('<g aria-current="page" aria-label="{label} (this song)">{box}</g>').format(label=label, box=box)
            )
        else:
            parts.append(
                Markup('<a href="{href}" aria-label="{label}">{box}</a>').format(href=href(song), label=label, box=box)
            )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
