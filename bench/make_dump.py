"""A synthetic IMDb dump in the exact official layout, at any scale, to benchmark the pipeline.

    python -m bench.make_dump OUTPUT_DIR [--scale 1.0] [--seed 0]

Writes title.basics.tsv.gz, title.ratings.tsv.gz and title.crew.tsv.gz: the official headers,
tab-separated, `\\N` for null, no quoting (titles hold raw `"`, never a tab or a newline), gzip
level 1 with mtime 0 and no file name, so one (scale, seed) always gives the same bytes.
Scale 1.0 is today's dump: 11.9 million titles, 1.6 million of them rated.

No real row is used: titles come from the word lists below. Rates were measured on the official
sample (bench/check_dump.py compares them) and, where that early-cinema slice is not
representative, set to estimates of the full dump; TITLE_TYPES states them per type.

- Rows are in text order of tconst, like the official files (tt10000000 sorts between
  tt1000000 and tt1000001). Ids spread over tt0000001-tt37000000 at any scale, denser below
  tt10000000, and a title's id sets its era: low ids are early cinema.
- Ratings follow the inputs the way real ones do: a base per title type, plus genre effects
  (documentaries higher, horror lower), an era effect, a runtime effect, more votes -> higher,
  a persistent talent per director and per writer (so crew target encoding carries signal),
  sequels lower, foreign titles higher, and skewed noise that shrinks with the votes.
- numVotes is heavy-tailed: log10 is a normal body plus an exponential tail (a power law),
  softly capped near 3 million. Movies are rated far more often than episodes.
- Directors and writers come from one pool of people with bounded-Pareto credit weights (most
  credited once or twice, some on hundreds or thousands of titles). Credits stay near the
  title's place in the id sequence, so each person has a career span.

Generation runs in chunks of CHUNK_ROWS titles with vectorised NumPy and Arrow string kernels,
streamed into the three gzip files; beyond the ids and the people (about 200 MB at scale 1.0),
memory does not grow with the scale. Scale 1.0 takes about 2.5 minutes on 2 cores with a peak
RSS about 1 GB; gzip level 1 is an eighth of that time (level 6: 3x slower, files 22% smaller).
"""

from __future__ import annotations

import argparse
import gzip
import math
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FULL_DUMP_TITLES = 11_900_000
FULL_DUMP_RATED = 1_600_000
# People credited as director or writer in the full dump (an estimate).
FULL_DUMP_PEOPLE = 2_400_000
# Ids keep to 8 digits (below tt100000000) up to this scale.
MAX_SCALE = 2.0
CHUNK_ROWS = 500_000
GZIP_LEVEL = 1
NULL = "\\N"

BASICS, RATINGS, CREW = "title.basics.tsv.gz", "title.ratings.tsv.gz", "title.crew.tsv.gz"
HEADERS = {
    BASICS: "tconst titleType primaryTitle originalTitle isAdult startYear endYear "
    "runtimeMinutes genres".split(),
    RATINGS: ["tconst", "averageRating", "numVotes"],
    CREW: ["tconst", "directors", "writers"],
}


@dataclass(frozen=True)
class TitleType:
    name: str
    share: float  # of title.basics rows (normalised over all types)
    rated: float  # relative chance of a rating
    family: str  # genre mix: film, short, tv, video or game
    runtime: float  # median minutes
    runtime_spread: float  # standard deviation of log(runtime)
    runtime_null: float
    year_null: float
    genres_null: float
    adult: float
    differs: float  # originalTitle != primaryTitle
    directors_null: float
    writers_null: float
    writer_directs: float  # the (first) director is also credited as writer
    log_votes: float  # median of log10(numVotes) before the tail and the people's effects
    votes_spread: float  # standard deviation of log10(numVotes) before the tail
    rating: float  # base averageRating before the effects
    year_lag: float  # mean years between release and the id's registration
    first_year: int  # no earlier startYear (television from 1946, for instance)


# The shares are the brief's figures for today's dump, normalised (they sum to 93.6%). Null rates
# of the full dump are dominated by tvEpisode rows: most have no runtime, about one in six no
# year, four in ten no director. The early-cinema sample (almost no episodes) shows far lower
# rates; bench/check_dump.py documents those exceptions.
# fmt: off
TITLE_TYPES = (
    # name, share, rated, family, runtime, runtime_spread, runtime_null, year_null, genres_null,
    #   adult, differs, directors_null, writers_null, writer_directs, log_votes, votes_spread,
    #   rating, year_lag, first_year
    TitleType("tvEpisode", 0.72, 0.11, "tv", 28, 0.45, 0.80, 0.16, 0.045,
              0.003, 0.02, 0.42, 0.48, 0.15, 0.75, 0.80, 7.25, 1.5, 1946),
    TitleType("short", 0.08, 0.22, "short", 11, 0.60, 0.28, 0.015, 0.004,
              0.01, 0.06, 0.08, 0.35, 0.50, 0.95, 0.85, 6.65, 4.0, 1874),
    TitleType("movie", 0.06, 0.45, "film", 92, 0.20, 0.33, 0.04, 0.07,
              0.025, 0.25, 0.08, 0.25, 0.45, 1.70, 1.05, 6.05, 12.0, 1894),
    TitleType("video", 0.025, 0.20, "video", 60, 0.60, 0.45, 0.03, 0.08,
              0.40, 0.05, 0.15, 0.50, 0.30, 0.95, 0.80, 6.30, 3.0, 1975),
    TitleType("tvSeries", 0.025, 0.35, "tv", 30, 0.50, 0.50, 0.01, 0.05,
              0.005, 0.12, 0.85, 0.60, 0.20, 1.60, 1.05, 6.85, 4.0, 1946),
    TitleType("tvMovie", 0.013, 0.38, "film", 85, 0.20, 0.30, 0.02, 0.08,
              0.01, 0.12, 0.10, 0.30, 0.35, 1.30, 0.90, 6.45, 8.0, 1946),
    TitleType("tvMiniSeries", 0.005, 0.35, "tv", 50, 0.50, 0.60, 0.02, 0.05,
              0.005, 0.15, 0.50, 0.40, 0.30, 1.70, 1.00, 6.95, 3.0, 1946),
    TitleType("tvSpecial", 0.004, 0.25, "tv", 60, 0.50, 0.40, 0.02, 0.06,
              0.002, 0.08, 0.30, 0.50, 0.20, 1.10, 0.85, 6.75, 3.0, 1946),
    TitleType("videoGame", 0.003, 0.35, "game", 60, 0.50, 1.00, 0.05, 0.03,
              0.002, 0.03, 0.50, 0.50, 0.20, 1.45, 0.95, 6.85, 2.0, 1972),
    TitleType("tvShort", 0.001, 0.30, "short", 10, 0.60, 0.30, 0.02, 0.01,
              0.002, 0.05, 0.10, 0.30, 0.40, 0.95, 0.80, 6.60, 4.0, 1946),
    # About one row in today's dump.
    TitleType("tvPilot", 1e-7, 0.30, "tv", 30, 0.50, 0.50, 0.05, 0.05,
              0.0, 0.05, 0.30, 0.40, 0.20, 1.20, 0.90, 6.70, 4.0, 1946),
)
FAMILIES = ("film", "short", "tv", "video", "game")

GENRES = (
    "Action Adult Adventure Animation Biography Comedy Crime Documentary Drama Family Fantasy "
    "Film-Noir Game-Show History Horror Music Musical Mystery News Reality-TV Romance Sci-Fi "
    "Short Sport Talk-Show Thriller War Western"
).split()
NO_GENRE = len(GENRES)  # padding code: a title has 1 to 3 genres
# Relative frequency of each genre per family; Adult is given to adult titles, Short to shorts.
GENRE_WEIGHTS = {
    "film": {"Drama": 30, "Comedy": 16, "Documentary": 12, "Romance": 6, "Action": 6,
             "Thriller": 6, "Horror": 5, "Crime": 5, "Adventure": 3.5, "Biography": 2.5,
             "Family": 2.5, "Mystery": 2.5, "Music": 2.5, "Fantasy": 2, "History": 2, "Sci-Fi": 2,
             "War": 1.2, "Animation": 1.5, "Musical": 1, "Western": 1, "Sport": 1.2,
             "Film-Noir": 0.1, "News": 0.3},
    "short": {"Comedy": 8, "Drama": 8, "Documentary": 7, "Animation": 5, "Family": 2, "Music": 2,
              "Horror": 2, "Fantasy": 1.5, "Sci-Fi": 1, "Romance": 1.5, "Thriller": 1, "Action": 1},
    "tv": {"Comedy": 14, "Drama": 12, "Reality-TV": 9, "Talk-Show": 7, "Game-Show": 3, "News": 5,
           "Documentary": 8, "Animation": 5, "Family": 5, "Crime": 5, "Adventure": 4, "Action": 4,
           "Romance": 3, "Mystery": 3, "Music": 3, "Sport": 3, "Fantasy": 2, "History": 2,
           "Biography": 1.5, "Thriller": 1.5, "Horror": 1, "Sci-Fi": 1, "War": 0.5,
           "Western": 0.4},
    "video": {"Music": 10, "Comedy": 8, "Documentary": 8, "Action": 5, "Horror": 5, "Drama": 6,
              "Family": 3, "Animation": 3, "Adventure": 2, "Sport": 2, "Thriller": 2, "Crime": 2,
              "Romance": 1.5},
    "game": {"Action": 12, "Adventure": 10, "Fantasy": 6, "Sci-Fi": 5, "Sport": 3, "Family": 3,
             "Comedy": 2, "Horror": 2, "Crime": 2, "Animation": 2, "Mystery": 1.5, "Thriller": 1.5,
             "War": 1},
}
GENRES_PER_TITLE = (0.45, 0.27, 0.28)  # one, two or three genres
# averageRating shift per genre, summed over a title's genres.
GENRE_RATING = {
    "Documentary": 0.75, "Biography": 0.45, "History": 0.4, "Music": 0.35, "War": 0.3,
    "Animation": 0.3, "Film-Noir": 0.35, "Sport": 0.2, "Drama": 0.15, "Talk-Show": 0.1,
    "Short": 0.1, "Family": 0.05, "Comedy": -0.1, "Fantasy": -0.1, "Mystery": -0.1,
    "Western": -0.1, "Crime": -0.05, "Action": -0.3, "Sci-Fi": -0.45, "Thriller": -0.45,
    "Reality-TV": -0.4, "News": -0.2, "Adult": -0.6, "Horror": -0.9,
}
# log10(numVotes) shift per genre: documentaries are rated well but seen by few.
GENRE_VOTES = {"Documentary": -0.3, "Adult": -0.2, "Action": 0.2, "Sci-Fi": 0.15, "Horror": 0.1}

# Registration year of an id (interpolated): the first ids were filled in historical order,
# later ones as titles were added, so even a new id can hold an old film.
ID_ANCHORS = (0, 50_000, 100_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000,
              30_000_000, 37_000_000)
ID_YEARS = (1890, 1950, 1994, 2007, 2011, 2016, 2019, 2022, 2024, 2025.6)
ID_BLOCK = 1_000_000
# Share of ids in use: ids below tt10000000 are dense, later ones sparse (many never public).
DENSE_BLOCKS, DENSE_USE, SPARSE_USE = 10, 0.65, 0.2
MAX_ID = ID_ANCHORS[-1]
LAST_RELEASED_YEAR = 2025

# Era effects, interpolated by startYear: rating (old survivors rate higher, the first years
# lower) and log10 votes (titles of the internet era get the most).
RATING_YEARS = ((1890, 1915, 1940, 1965, 1990, 2010, 2026),
                (-0.45, -0.05, 0.2, 0.25, 0.0, -0.1, 0.15))
VOTE_YEARS = ((1890, 1940, 1970, 1995, 2015, 2026), (-0.5, -0.3, -0.1, 0.15, 0.1, -0.25))
RUNTIME_RATING = 0.8  # per unit of log(runtime / the type's median), clipped to [-1, 0.7]
VOTES_RATING = 0.65  # rating gain per decade of votes beyond ~600 (a soft hinge)
VOTES_TAIL = 0.3  # scale of the exponential tail of log10(numVotes): the blockbusters
VOTES_CAP = 6.5  # log10 of the soft ceiling
RATING_SKEW = -0.9  # skew-normal delta of the noise: a longer tail of low ratings
PANNED, PANNED_DROP = 0.25, 1.8  # chance x sqrt(votes) of a panned title, mean rating drop
DIRECTOR_TALENT, WRITER_TALENT = 0.4, 0.25  # rating effect of one standard deviation
TALENT_VOTES = 0.15  # log10 votes per rating point of talent: good work draws an audience
CAREER_SPREAD = 0.03  # standard deviation of a person's credits along the id sequence
PEOPLE_WEIGHT_SHAPE = 1.1  # Pareto shape of credits per person
DIRECTORS_PER_TITLE = (0.87, 0.09, 0.025, 0.01, 0.005)
WRITERS_PER_TITLE = (0.42, 0.3, 0.15, 0.07, 0.03, 0.015, 0.01, 0.005)

ENGLISH_WORDS = """
Love Night Day Man Woman City Dark Light House Home Road River Blood Dead Life World Time Dream
Heart Fire Water King Queen War Story Girl Boy Secret Last First Lost Return Journey Shadow Ghost
Moon Sun Star Summer Winter Spring Autumn Island Mountain Sea Stranger Family Brother Sister Mother
Father Son Daughter Friend Enemy Game Money Gold Silver Iron Stone Glass Paper Letter Song Dance
Music Party Wedding Murder Crime Case Trial Escape Hunt Chase Fight Battle Storm Rain Snow Wind
Wild Red Black White Blue Green Golden Silent Little Big Great Young Old New Broken Hidden Final
Perfect Happy Lonely Beautiful Deadly Dangerous Sweet Bitter Strange Street Garden Forest Desert
Valley Bridge Train Ship Highway Station Hotel Hospital School College Church Prison Castle Palace
Village Town Kingdom Empire Planet Space Machine Robot Monster Devil Angel Saint Witch Wolf Tiger
Lion Horse Dog Cat Bird Dragon Snake Spider Rose Lily Apple Cherry Coffee Midnight Morning Evening
Tomorrow Yesterday Today Forever Never Always Again Alone Together Inside Outside Beyond Under
Over After Before Between Without Within Down Up Back Out In Of And For With To From At By On My
Your Our Their His Her One Two Three Seven Ten Hundred Thousand Million 7 13 24 99 100 1000 2000
Don't Can't Won't It's Mother's Devil's Hell's Lovers' Children's O'Brien Rock'n'Roll America
London Paris Texas Vegas Hollywood Harlem Brooklyn Paradise Heaven Hell Earth Ocean Sky Thunder
Lightning Fever Shock Panic Rage Revenge Justice Honor Glory Freedom Promise Truth Lies Sins Kiss
Touch Tears Smile Voice Eyes Hands Face Body Soul Mind Memory Memories Legends Heroes Hero Villain
Agent Spy Detective Doctor Nurse Teacher Captain Soldier Pirate Cowboy Sheriff Outlaw Boss Gang
Club Crew Team Squad Patrol Mission Operation Project Code Zero Point Edge Line
""".split()
# Accents, Cyrillic and Greek: what non-English titles bring to primaryTitle and originalTitle.
FOREIGN_WORDS = """
Amor Noche Corazón Canción Mañana Niño Niña Señora Día Vida Muerte Sueño Ciudad Camino Été Hiver
Rêve Château Fenêtre Mère Père Frère Sœur Cœur Lumière Forêt Île Côte Soirée Fête Über Mädchen
Straße Tür Schön Liebe Nacht Größe Brücke Müde Glück Frühling Himmel Zeit Ação Coração Irmão Mãe
Pão Canção Noite Saudade Viagem Verão Città Perché Però Notte Cuore Ömür Çocuk Güneş Kış Aşk Yıldız
Życie Miłość Noc Łzy Źródło Škola Dům Láska Léto Kärlek Hjärta Søster Øyeblikk Ljós Jól Любовь
Ночь Война Жизнь Дом Город Сердце Сон Море Зима Καρδιά Νύχτα Θάλασσα Ήλιος Αγάπη El La Los Las Le
Les Der Die Das Il Un Une Una del de di da und et y
""".split()  # noqa: RUF001 (Cyrillic and Turkish letters on purpose)
CJK_WORDS = """
愛 夜 東京 物語 少女 戦争 夢 花 心 春 夏 月 海 家族 私の 青春 사랑 밤 친구 바다 电影 故事
江湖 英雄 北京 上海 風 雪 山 川 星
""".split()
SEQUEL_MARKERS = (" 2", " 3", " 4", " II", " III", " IV", " Part 2", ": Part Two", " Returns")
MONTHS = "January February March April May June July August September October November December"
WORDS_PER_TITLE = (0.2, 0.3, 0.22, 0.14, 0.09, 0.05)
# Primary title styles: English words, other languages, CJK, "Episode #1.2", "Episode dated ...".
EPISODE_STYLES = (0.57, 0.07, 0.01, 0.30, 0.05)
OTHER_STYLES = (0.82, 0.15, 0.03, 0.0, 0.0)
# Shares of the primary titles (English or other-language style) that get each decoration.
THE_PREFIX, SUBTITLE, COMMA, QUOTED, EXCLAIM = 0.2, 0.04, 0.015, 0.004, 0.01
# fmt: on


def column(field: str) -> np.ndarray:
    """One field of TITLE_TYPES as an array indexed by type code."""
    return np.array([getattr(kind, field) for kind in TITLE_TYPES])


def index_of(name: str) -> int:
    return next(code for code, kind in enumerate(TITLE_TYPES) if kind.name == name)


TYPE_NAMES = pa.array([kind.name for kind in TITLE_TYPES])
TYPE_SHARES = column("share") / column("share").sum()
TYPE_FAMILIES = np.array([FAMILIES.index(kind.family) for kind in TITLE_TYPES])
TV_SERIES, TV_MINI_SERIES = index_of("tvSeries"), index_of("tvMiniSeries")
TV_EPISODE, MOVIE, VIDEO = index_of("tvEpisode"), index_of("movie"), index_of("video")


def null_where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def pick(options: pa.Array, index: np.ndarray) -> pa.Array:
    return options.take(pa.array(index))


def text(values: np.ndarray) -> pa.Array:
    """Whole numbers as text, NaN as null."""
    missing = np.isnan(values)
    whole = pa.array(np.where(missing, 0, values).astype(np.int64))
    return null_where(missing, pc.cast(whole, pa.string()))


@dataclass(frozen=True)
class SlotTables:
    """Items to join into a list per row: as the first item, and prefixed with the separator as
    a later one; each table ends with "" for an empty slot, so joins need no null handling
    (binary_join_element_wise with null_handling="skip" drops all-null rows in pyarrow 25)."""

    first: pa.Array
    later: pa.Array

    @classmethod
    def of(cls, items: pa.Array, separator: str) -> SlotTables:
        prefixed = pc.binary_join_element_wise(separator, items, "")
        empty = pa.array([""])
        return cls(pa.concat_arrays([items, empty]), pa.concat_arrays([prefixed, empty]))

    def join(self, chosen: np.ndarray) -> pa.Array:
        """Per row, the items chosen[:, slot] joined; -1 marks an empty slot. A row's first
        slot is filled whenever a later one is."""
        empty = len(self.first) - 1
        slots = [
            pick(self.later if slot else self.first, np.where(items < 0, empty, items))
            for slot, items in enumerate(chosen.T)
        ]
        return pc.binary_join_element_wise(*slots, "")


def categorical(rng: np.random.Generator, probabilities: np.ndarray, count: int) -> np.ndarray:
    """Category codes from one distribution (1-d) or one per row (2-d)."""
    cumulative = np.cumsum(probabilities, axis=-1)
    cumulative = cumulative / cumulative[..., -1:]
    uniform = rng.random(count)
    if cumulative.ndim == 1:
        codes = np.searchsorted(cumulative, uniform, side="right")
    else:
        codes = (uniform[:, None] >= cumulative).sum(axis=1)
    return np.minimum(codes, probabilities.shape[-1] - 1)


def era_effect(years: np.ndarray, curve: tuple[tuple, tuple]) -> np.ndarray:
    """An effect interpolated by year; unknown years (NaN) get none."""
    return np.nan_to_num(np.interp(years, *curve), nan=0.0)


@dataclass(frozen=True)
class World:
    """What every chunk shares: the ids in file order and the pool of people."""

    ids: np.ndarray  # numeric ids, ascending
    file_order: np.ndarray  # positions in `ids`, in the files' text order of tconst
    nconsts: SlotTables  # per person, to join into comma-separated credits
    talent: np.ndarray  # per person, standard normal
    popularity: np.ndarray  # per person, log10 votes shift
    directing: np.ndarray  # cumulative credit weights as director (0 for non-directors)
    writing: np.ndarray  # cumulative credit weights as writer
    rated_scale: float  # turns TitleType.rated into a probability


def format_ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """prefix + the number zero-padded to 7 digits (8 from 10,000,000 on), built in bulk."""
    count = len(numbers)
    chars = np.empty((count, 10), np.uint8)
    chars[:, :2] = np.frombuffer(prefix.encode(), np.uint8)
    chars[:, 2:] = numbers.astype(np.int64)[:, None] // 10 ** np.arange(7, -1, -1) % 10 + ord("0")
    eight_digits = numbers >= 10_000_000
    keep = np.ones((count, 10), bool)
    keep[:, 2] = eight_digits  # a 7-digit id drops the leading zero of its 8 digits
    offsets = np.zeros(count + 1, np.int32)
    offsets[1:] = np.cumsum(9 + eight_digits)
    return pa.StringArray.from_buffers(
        count, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars[keep]))
    )


def text_order(ids: np.ndarray) -> np.ndarray:
    """Positions of `ids` sorted as their tconst strings sort: a 7-digit id precedes its
    8-digit extensions (tt1000000 < tt10000000 < tt10000009 < tt1000001)."""
    key = np.where(ids < 10_000_000, ids * 20, ids * 2 + 1)
    return np.argsort(key, kind="stable")


def draw_ids(rng: np.random.Generator, count: int, scale: float) -> np.ndarray:
    """`count` distinct ids, ascending, with the official density profile; beyond scale 1 the
    id space grows past MAX_ID as IMDb's does."""
    blocks = math.ceil(MAX_ID * max(scale, 1.0) / ID_BLOCK)
    use = np.where(np.arange(blocks) < DENSE_BLOCKS, DENSE_USE, SPARSE_USE)
    expected = count * use / use.sum()
    per_block = np.floor(expected).astype(np.int64)
    per_block[np.argsort(per_block - expected)[: count - per_block.sum()]] += 1
    chosen = [
        block * ID_BLOCK + 1 + np.sort(rng.choice(ID_BLOCK, size, replace=False, shuffle=False))
        for block, size in enumerate(per_block)
    ]
    return np.concatenate(chosen)


def build_world(scale: float, seed: int) -> World:
    rng = np.random.default_rng([seed, 0])
    ids = draw_ids(rng, max(1, round(FULL_DUMP_TITLES * scale)), scale)
    people = max(60, round(FULL_DUMP_PEOPLE * scale))
    nm_numbers = np.sort(rng.choice(16_000_000, people, replace=False)) + 1
    role = rng.random(people)
    # A bounded Pareto: most people have a credit or two, some hundreds or thousands; the
    # bound follows the pool so that no one dominates a small dump.
    cap = float(np.clip(people / 40, 5, 1000))
    bounded = 1 - rng.random(people) * (1 - cap**-PEOPLE_WEIGHT_SHAPE)
    weight = bounded ** (-1 / PEOPLE_WEIGHT_SHAPE)
    talent = rng.standard_normal(people)
    # Undated titles are rated a third as often (see generate_chunk); aim at FULL_DUMP_RATED.
    rated_share = (TYPE_SHARES * column("rated") * (1 - 0.7 * column("year_null"))).sum()
    return World(
        ids=ids,
        file_order=text_order(ids),
        nconsts=SlotTables.of(format_ids("nm", nm_numbers), ","),
        talent=talent,
        popularity=0.15 * talent + rng.normal(0, 0.3, people),
        directing=np.cumsum(weight * (role < 0.5)),  # 30% direct only, 20% direct and write
        writing=np.cumsum(weight * (role >= 0.3)),
        rated_scale=FULL_DUMP_RATED / FULL_DUMP_TITLES / rated_share,
    )


@dataclass(frozen=True)
class Chunk:
    """The titles of one chunk: what every column generator starts from."""

    rng: np.random.Generator
    ids: np.ndarray
    position: np.ndarray  # place in the id sequence, 0-1: the title's era and its people's
    registered: np.ndarray  # year the id was assigned
    kind: np.ndarray  # index into TITLE_TYPES

    def __len__(self) -> int:
        return len(self.ids)

    def per_type(self, field: str) -> np.ndarray:
        return column(field)[self.kind]

    def chance(self, probability: np.ndarray | float) -> np.ndarray:
        return self.rng.random(len(self)) < probability


def draw_years(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """startYear and endYear as floats, NaN for null."""
    # The first ids were entered in historical order, so their titles are close to their era.
    lag = np.where(chunk.ids < ID_ANCHORS[2], 1.0, chunk.per_type("year_lag"))
    year = np.floor(chunk.registered - chunk.rng.exponential(lag))
    year = np.clip(year, chunk.per_type("first_year"), LAST_RELEASED_YEAR)
    announced = (chunk.registered >= LAST_RELEASED_YEAR) & chunk.chance(0.1)
    upcoming = np.minimum(LAST_RELEASED_YEAR + chunk.rng.geometric(0.5, len(chunk)), 2031)
    year = np.where(announced, upcoming, year)
    year = np.where(chunk.chance(chunk.per_type("year_null")), np.nan, year)
    series = chunk.kind == TV_SERIES
    ended = chunk.chance(np.where(series, 0.55, 0.85)) & (series | (chunk.kind == TV_MINI_SERIES))
    duration = np.floor(chunk.rng.exponential(np.where(series, 3.0, 0.3)))
    end_year = np.where(ended, np.minimum(year + duration, LAST_RELEASED_YEAR), np.nan)
    return year, np.where(end_year >= year, end_year, np.nan)


def draw_runtime(chunk: Chunk) -> np.ndarray:
    """runtimeMinutes as floats, NaN for null; often rounded to 5 minutes, as people enter it."""
    spread = chunk.per_type("runtime_spread") * chunk.rng.standard_normal(len(chunk))
    minutes = chunk.per_type("runtime") * np.exp(spread)
    minutes = np.where(chunk.chance(0.3), np.round(minutes / 5) * 5, np.round(minutes))
    # The real file holds a few absurd runtimes (art films lasting days); clean drops them.
    minutes = np.where(chunk.chance(3e-5), chunk.rng.integers(1001, 10_000, len(chunk)), minutes)
    return np.where(chunk.chance(chunk.per_type("runtime_null")), np.nan, np.maximum(minutes, 1))


def genre_log_weights() -> np.ndarray:
    """(family, genre) log weights; -inf where a family never has the genre."""
    weights = np.array([[GENRE_WEIGHTS[f].get(g, 0.0) for g in GENRES] for f in FAMILIES])
    with np.errstate(divide="ignore"):
        logs = np.log(weights).astype(np.float32)
    logs[FAMILIES.index("short"), GENRES.index("Short")] = np.inf  # every short is a Short
    return logs


def genre_strings() -> pa.Array:
    """Text of every combination code g0*29^2 + g1*29 + g2 (NO_GENRE pads): "A,B,C"."""
    names = [*GENRES, ""]
    base = NO_GENRE + 1
    combos = (
        (names[code // base**2], names[code // base % base], names[code % base])
        for code in range(base**3)
    )
    return pa.array([",".join(name for name in combo if name) or None for combo in combos])


GENRE_LOG_WEIGHTS = genre_log_weights()
GENRE_STRINGS = genre_strings()
GENRE_CODE = np.array([(NO_GENRE + 1) ** 2, NO_GENRE + 1, 1])
GENRE_RATING_TABLE = np.array([GENRE_RATING.get(g, 0.0) for g in GENRES] + [0.0])
GENRE_VOTES_TABLE = np.array([GENRE_VOTES.get(g, 0.0) for g in GENRES] + [0.0])


def draw_genres(chunk: Chunk, adult: np.ndarray) -> np.ndarray:
    """Up to three distinct genre codes per title, ascending (so alphabetical), NO_GENRE pads."""
    exponential = chunk.rng.standard_exponential((len(chunk), len(GENRES)), dtype=np.float32)
    # Gumbel top-k: the k largest of log(weight) + Gumbel noise (-log of an exponential) are a
    # weighted draw without replacement, for every row at once.
    keys = GENRE_LOG_WEIGHTS[TYPE_FAMILIES[chunk.kind]] - np.log(exponential + np.float32(1e-30))
    keys[:, GENRES.index("Adult")] = np.where(adult, np.inf, -np.inf)
    top = np.argpartition(-keys, 3, axis=1)[:, :3]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1), 1)
    count = 1 + categorical(chunk.rng, np.array(GENRES_PER_TITLE), len(chunk))
    count = np.where(chunk.chance(chunk.per_type("genres_null")), 0, count)
    return np.sort(np.where(np.arange(3) < count[:, None], top, NO_GENRE), axis=1)


ENGLISH = SlotTables.of(pa.array(ENGLISH_WORDS), " ")
FOREIGN = SlotTables.of(pa.array(FOREIGN_WORDS), " ")
CJK = SlotTables.of(pa.array(CJK_WORDS), "")
MONTH_NAMES = pa.array(MONTHS.split())


def draw_words(rng: np.random.Generator, vocabulary: SlotTables, count: np.ndarray) -> pa.Array:
    """`count` words per row; the first words of the vocabulary are the most frequent."""
    size = len(vocabulary.first) - 1
    words = (size * rng.random((len(count), int(count.max()))) ** 2).astype(np.int64)
    return vocabulary.join(np.where(np.arange(words.shape[1]) < count[:, None], words, -1))


def word_count(chunk: Chunk) -> np.ndarray:
    return 1 + categorical(chunk.rng, np.array(WORDS_PER_TITLE), len(chunk))


def decorate(
    chunk: Chunk, title: pa.Array, share: np.ndarray | float, *parts: pa.Array | str
) -> pa.Array:
    """For a share of the rows, the parts (the title among them) joined; elsewhere the title."""
    joined = pc.binary_join_element_wise(*parts, "")
    return pc.if_else(pa.array(chunk.chance(share)), joined, title)


def draw_titles(chunk: Chunk, year: np.ndarray) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """primaryTitle, originalTitle, and whether the primary title marks a sequel."""
    rng, count = chunk.rng, len(chunk)
    english = draw_words(rng, ENGLISH, word_count(chunk))
    english = decorate(chunk, english, THE_PREFIX, "The ", english)
    foreign = draw_words(rng, FOREIGN, word_count(chunk))
    cjk = draw_words(rng, CJK, np.minimum(word_count(chunk), 3))
    season = pc.cast(pa.array(rng.geometric(0.3, count)), pa.string())
    episode = pc.cast(pa.array(np.minimum(rng.geometric(0.04, count), 999)), pa.string())
    numbered = pc.binary_join_element_wise("Episode #", season, ".", episode, "")
    day = pc.cast(pa.array(rng.integers(1, 29, count)), pa.string())
    month = pick(MONTH_NAMES, rng.integers(0, 12, count))
    aired = text(np.where(np.isnan(year), rng.integers(1990, 2025, count), year))
    dated = pc.binary_join_element_wise("Episode dated ", day, " ", month, " ", aired, "")
    styles = np.where((chunk.kind == TV_EPISODE)[:, None], EPISODE_STYLES, OTHER_STYLES)
    style = categorical(rng, styles, count)
    primary = pc.choose(pa.array(style), english, foreign, cjk, numbered, dated)

    worded = style < 2  # decorations read naturally on English and other-language words
    subtitle = draw_words(rng, ENGLISH, 1 + rng.integers(0, 3, count))
    primary = decorate(chunk, primary, SUBTITLE * worded, primary, ": ", subtitle)
    lead = pick(ENGLISH.first, rng.integers(0, len(ENGLISH_WORDS), count))
    primary = decorate(chunk, primary, COMMA * worded, lead, ", ", primary)
    primary = decorate(chunk, primary, QUOTED * worded, '"', lead, '" ', primary)
    mark = pick(pa.array(["!", "?", "..."]), rng.integers(0, 3, count))
    primary = decorate(chunk, primary, EXCLAIM * worded, primary, mark)
    sequel_share = np.where(np.isin(chunk.kind, [MOVIE, VIDEO]), 0.03, 0.004) * worded
    sequel = chunk.chance(sequel_share)
    marker = pick(pa.array(SEQUEL_MARKERS), rng.integers(0, len(SEQUEL_MARKERS), count))
    primary = pc.if_else(
        pa.array(sequel), pc.binary_join_element_wise(primary, marker, ""), primary
    )

    # A differing original title is in another language (a tenth in CJK) and keeps no marker.
    differs = chunk.chance(chunk.per_type("differs")) & (style != 1)
    translated = pc.if_else(pa.array(rng.random(count) < 0.1), cjk, foreign)
    return primary, pc.if_else(pa.array(differs), translated, primary), sequel


def draw_people(
    chunk: Chunk, cumulative: np.ndarray, per_title: tuple[float, ...], null: np.ndarray
) -> np.ndarray:
    """Person indices, one column per credit slot, -1 where empty; no one twice on a title."""
    count = np.where(null, 0, 1 + categorical(chunk.rng, np.array(per_title), len(chunk)))
    slots = len(per_title)
    # A person's credits stay near one place in the id sequence: a career of a few decades.
    # Reflecting at both ends keeps every person's share of the credits.
    credited = np.arange(slots) < count[:, None]
    noise = CAREER_SPREAD * chunk.rng.standard_normal(int(credited.sum()))
    target = np.abs(np.broadcast_to(chunk.position[:, None], credited.shape)[credited] + noise)
    target = np.clip(np.where(target > 1, 2 - target, target), 0, 1)
    people = np.full(credited.shape, -1)
    found = np.searchsorted(cumulative, target * cumulative[-1], side="right")
    people[credited] = np.minimum(found, len(cumulative) - 1)
    for slot in range(1, slots):
        repeated = (people[:, :slot] == people[:, slot : slot + 1]).any(axis=1)
        people[repeated, slot] = -1
    return people


def credit_strings(world: World, people: np.ndarray) -> pa.Array:
    """Comma-separated nconsts per title; null without any credit."""
    return null_where(people[:, 0] < 0, world.nconsts.join(people))


def mean_over_credits(values: np.ndarray, people: np.ndarray) -> np.ndarray:
    credited = people >= 0
    total = np.where(credited, values[np.maximum(people, 0)], 0.0).sum(axis=1)
    return total / np.maximum(credited.sum(axis=1), 1)


def skew_normal(rng: np.random.Generator, delta: float, count: int) -> np.ndarray:
    """Zero-mean skew-normal noise of unit scale; delta < 0 gives a longer left tail."""
    folded = np.abs(rng.standard_normal(count))
    noise = delta * folded + np.sqrt(1 - delta**2) * rng.standard_normal(count)
    return noise - delta * np.sqrt(2 / np.pi)


RATING_TEXT = pa.array([f"{tenths // 10}.{tenths % 10}" for tenths in range(101)])


def generate_chunk(world: World, index: int, seed: int, rows: np.ndarray) -> dict[str, list]:
    """The columns of the three files for the titles world.ids[rows], in file order."""
    rng = np.random.default_rng([seed, 1, index])
    ids = world.ids[rows]
    registered = np.interp(ids, ID_ANCHORS, ID_YEARS)
    # No television among the ids of early cinema, no video games before there were any.
    possible = column("first_year") <= registered[:, None]
    chunk = Chunk(
        rng=rng,
        ids=ids,
        position=rows / len(world.ids),
        registered=registered,
        kind=categorical(rng, TYPE_SHARES * possible, len(rows)),
    )
    count = len(chunk)
    year, end_year = draw_years(chunk)
    runtime = draw_runtime(chunk)
    adult = chunk.chance(chunk.per_type("adult"))
    genres = draw_genres(chunk, adult)
    primary, original, sequel = draw_titles(chunk, year)
    no_director = chunk.chance(chunk.per_type("directors_null"))
    directors = draw_people(chunk, world.directing, DIRECTORS_PER_TITLE, no_director)
    no_writer = chunk.chance(chunk.per_type("writers_null"))
    writers = draw_people(chunk, world.writing, WRITERS_PER_TITLE, no_writer)
    credited = (directors[:, 0] >= 0) & (writers[:, 0] >= 0)
    writes_too = chunk.chance(chunk.per_type("writer_directs")) & credited
    writers[:, 0] = np.where(writes_too, directors[:, 0], writers[:, 0])
    writers[:, 1:][writers[:, 1:] == writers[:, :1]] = -1

    talent = DIRECTOR_TALENT * mean_over_credits(world.talent, directors)
    talent += WRITER_TALENT * mean_over_credits(world.talent, writers)
    log_votes = (
        chunk.per_type("log_votes")
        + mean_over_credits(world.popularity, directors)
        + 0.5 * mean_over_credits(world.popularity, writers)
        + TALENT_VOTES * talent
        + GENRE_VOTES_TABLE[genres].sum(axis=1)
        + era_effect(year, VOTE_YEARS)
        - 0.3 * adult
        + chunk.per_type("votes_spread") * rng.standard_normal(count)
        + rng.exponential(VOTES_TAIL, count)
    )
    log_votes = -np.log10(10.0**-log_votes + 10.0**-VOTES_CAP)  # soft ceiling
    votes = 5 + np.floor(np.maximum(10.0**log_votes - 1, 0))

    differs = pc.not_equal(primary, original).to_numpy(zero_copy_only=False)
    relative_runtime = np.clip(np.log(runtime / chunk.per_type("runtime")), -1, 0.7)
    rating = (
        chunk.per_type("rating")
        + 0.75 * GENRE_RATING_TABLE[genres].sum(axis=1)
        + era_effect(year, RATING_YEARS)
        + RUNTIME_RATING * np.nan_to_num(relative_runtime)
        + VOTES_RATING * np.logaddexp(0, 1.8 * (np.log10(votes) - 2.8)) / 1.8
        + talent
        + 0.15 * differs
        - 0.3 * sequel
        - 0.3 * adult
        + (0.4 + 3.0 / np.sqrt(votes)) * skew_normal(rng, RATING_SKEW, count)
    )
    # A few titles are panned (or vote-bombed), mostly among the little-seen: the long left tail.
    rating -= chunk.chance(PANNED / np.sqrt(votes)) * rng.exponential(PANNED_DROP, count)
    tenths = np.clip(np.round(rating * 10), 10, 100).astype(np.int64)

    rated_chance = world.rated_scale * chunk.per_type("rated") * np.where(adult, 0.5, 1.0)
    rated_chance = np.where(np.isnan(year), 0.3 * rated_chance, rated_chance)
    rated = chunk.chance(np.where(year > LAST_RELEASED_YEAR, 0.02, rated_chance))

    tconst = format_ids("tt", chunk.ids)
    basics = [
        tconst,
        pick(TYPE_NAMES, chunk.kind),
        primary,
        original,
        pick(pa.array(["0", "1"]), adult.astype(np.int64)),
        text(year),
        text(end_year),
        text(runtime),
        pick(GENRE_STRINGS, genres @ GENRE_CODE),
    ]
    ratings = [
        tconst.filter(pa.array(rated)),
        pick(RATING_TEXT, tenths[rated]),
        pc.cast(pa.array(votes[rated].astype(np.int64)), pa.string()),
    ]
    crew = [tconst, credit_strings(world, directors), credit_strings(world, writers)]
    return {BASICS: basics, RATINGS: ratings, CREW: crew}


def tsv_block(columns: list[pa.Array]) -> memoryview:
    """The rows as tab-separated lines, nulls as \\N, in one buffer (no per-row Python)."""
    joined = pc.binary_join_element_wise(
        *columns, "\t", null_handling="replace", null_replacement=NULL
    )
    lines = pc.binary_join_element_wise(joined, "", "\n")
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def make_dump(folder: Path, scale: float, seed: int) -> dict[str, int]:
    """Writes the three files; returns the data rows written per file."""
    world = build_world(scale, seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows_written = dict.fromkeys(HEADERS, 0)
    with ExitStack() as stack:
        streams = {}
        for name, header in HEADERS.items():
            raw = stack.enter_context((folder / name).open("wb"))
            # No file name and mtime 0 in the gzip header: the same bytes on every run.
            streams[name] = stack.enter_context(
                gzip.GzipFile(
                    filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=raw, mtime=0
                )
            )
            streams[name].write(("\t".join(header) + "\n").encode())
        for index, start in enumerate(range(0, len(world.ids), CHUNK_ROWS)):
            rows = world.file_order[start : start + CHUNK_ROWS]
            for name, columns in generate_chunk(world, index, seed, rows).items():
                streams[name].write(tsv_block(columns))
                rows_written[name] += len(columns[0])
    return rows_written


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 11.9M titles (default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 < args.scale <= MAX_SCALE:
        parser.error(f"--scale must be in (0, {MAX_SCALE:g}]")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    rows = make_dump(args.output_dir, args.scale, args.seed)
    seconds = time.perf_counter() - started
    print(f"scale {args.scale}, seed {args.seed}: {seconds:.1f} s wall -> {args.output_dir}")
    print("| file | rows | size |\n|---|---:|---:|")
    for name, count in rows.items():
        size = (args.output_dir / name).stat().st_size
        print(f"| {name} | {count:,} | {size / 1e6:,.1f} MB |")


if __name__ == "__main__":
    main()
