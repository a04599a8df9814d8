"""Dataset cards: every named real dataset's files (sha256, size, canonical URLs), licence, citation and
splits, registered in :data:`DATASETS` (a :class:`~omnivec.registry.Registry`, like encoders and heads).

Checksums, sizes and split counts come from ``shared/data/DATASETS.md`` (which records how each copy was
verified against its official source). URLs point at the official distribution, pinned to the commit the
staged copy was taken from where the source is a git repository, so a download reproduces the verified bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omnivec.errors import OmnivecError
from omnivec.registry import Registry
from omnivec.types import Modality


@dataclass(frozen=True)
class FileInfo:
    """One file of a dataset, relative to the dataset's folder."""

    path: str
    sha256: str
    size: int
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class TreeInfo:
    """Many small files checked together (FSDD's 3,000 wavs) by the sha256 of the sorted list of per-file
    sha256s (one lowercase hex digest per line, each followed by a newline); downloaded as one archive."""

    pattern: str
    count: int
    digest: str
    archive_urls: tuple[str, ...] = ()
    archive_prefix: str = ""
    """Folder inside the archive that maps onto the dataset folder."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    folder: str
    modality: Modality
    kind: str
    description: str
    license: str
    citation: str
    homepage: str
    splits: dict[str, int]
    files: tuple[FileInfo, ...]
    tree: TreeInfo | None = None
    class_names: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist",  # torchvision's mirror
    "https://storage.googleapis.com/cvdf-datasets/mnist",  # TensorFlow's mirror
    "http://yann.lecun.com/exdb/mnist",  # the original (often rate-limited)
)
FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/b2617bb6d3ffa2e429640350f613e3291e10b141/data/fashion",
)
FASHION_RAW = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/b2617bb6d3ffa2e429640350f613e3291e10b141"
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FSDD_RAW = f"https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/{FSDD_COMMIT}"
BANKING_RAW = (
    "https://raw.githubusercontent.com/PolyAI-LDN/task-specific-datasets/57ec275d8078af65b7731c2a98be812d844a6d6b"
)
SCITLDR_RAW = "https://raw.githubusercontent.com/allenai/scitldr/5ccad9c00a60ad75c9e04abf7f27d0f53f983b20"

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FSDD_SPEAKERS: dict[str, dict[str, str]] = {
    # from the FSDD repository's metadata.py (code, not copied), as reproduced in DATASETS.md
    "jackson": {"gender": "male", "accent": "USA/neutral", "language": "english"},
    "nicolas": {"gender": "male", "accent": "BEL/French", "language": "english"},
    "theo": {"gender": "male", "accent": "USA/neutral", "language": "english"},
    "yweweler": {"gender": "male", "accent": "DEU/German", "language": "english"},
    "george": {"gender": "male", "accent": "GRC/Greek", "language": "english"},
    "lucas": {"gender": "male", "accent": "DEU/German", "language": "english"},
}


# (file in the dataset folder, sha256, bytes, path under each base URL)
_MNIST = (
    (
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        9912422,
    ),
    ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    (
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        1648877,
    ),
    ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
)
_FASHION = (
    (
        "train-images-idx3-ubyte.gz",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        26421880,
    ),
    ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
    (
        "t10k-images-idx3-ubyte.gz",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        4422102,
    ),
    ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
)
_FASHION_DOCS = (
    ("LICENSE", "13ef4788476d292858fa60eb9a5f74aeca5c65770bc885ccaa05823a17ef7be1", 1109),
    ("README.md", "bdf17df9bd8b40c09165c7068b8532032094e0015b54ac09233d0ff8397181ea", 22711),
)
_FSDD_DOCS = (("README.md", "523de3cafa0f54707a0ab2760a2d32b640ccfe834a081d7d35c894f1fb6d79f5", 3977),)
_BANKING = (
    (
        "train.csv",
        "b06e26ac675513959a63135f11b94ea7786ed02da65db93a5650d8838cbc664b",
        839073,
        "banking_data/",
    ),
    ("test.csv", "d12d6e3bc4c3103966ae786dc435913c0c563dfa328f5a3646d0e62cfeeb474d", 239961, "banking_data/"),
    (
        "categories.json",
        "53261da888122daf2d120d925458631d9619e15d82e56052e7a42e535ce32b63",
        2036,
        "banking_data/",
    ),
    ("LICENSE", "7e7170e3cebf88a9f60c7b8421418323c09304da1af4d5e90f4da1dc1c8a2661", 18650, ""),
    ("README.md", "7b9ce9069931cc2de89dce8c7ffb53d07806cf413601ccf133b9af5227b3a373", 4735, ""),
)
_SCITLDR = (
    ("SciTLDR-A/train.jsonl", "b222771d387be585cfdf5ae957b36757138415a352e0a3e3b23f73f87c3b1119", 3155015),
    ("SciTLDR-A/dev.jsonl", "3191fa98ccc09521332b7a1cd63b1930be4e8df125a235ccd31e40329709525e", 1124865),
    ("SciTLDR-A/test.jsonl", "fb42dd6cd4f4a1928ae8a01a189456fbfe994a07e938bd49f68653933f6503c9", 1204107),
    ("LICENSE", "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4", 11357),
    ("README.md", "b06beeb3c0b6665b2c7405db57d073bb455adf58bda4e2ce77c984f5663a97ee", 3555),
)


def _files(rows: tuple[tuple, ...], bases: tuple[str, ...], src_prefix: str = "") -> tuple[FileInfo, ...]:
    """FileInfos whose URLs are ``<base>/<src_prefix><prefix column or ''><name>`` for every mirror base."""
    out = []
    for name, sha, size, *sub in rows:
        rel = f"{src_prefix}{sub[0] if sub else ''}{name}"
        out.append(FileInfo(name, sha, size, tuple(f"{b}/{rel}" for b in bases)))
    return tuple(out)


def _scitldr_files() -> tuple[FileInfo, ...]:
    data = _files(_SCITLDR[:3], (SCITLDR_RAW,), "SciTLDR-Data/")
    return data + _files(_SCITLDR[3:], (SCITLDR_RAW,))


DATASETS: Registry[DatasetInfo] = Registry("dataset")
"""Every dataset card by name; ``DATASETS.items()`` keeps the order below (``omnivec data list`` shows it)."""


def register_dataset(meta: DatasetInfo) -> DatasetInfo:
    return DATASETS.register(meta.name)(meta)


def info(name: str) -> DatasetInfo:
    """The card of dataset ``name``; an unknown name is an :class:`OmnivecError` listing the known ones."""
    if name not in DATASETS:
        raise OmnivecError(f"unknown dataset {name!r}; expected one of: {', '.join(DATASETS.names())}")
    return DATASETS.get(name)


for _meta in (
    DatasetInfo(
        name="mnist",
        folder="mnist",
        modality=Modality.IMAGE,
        kind="classification",
        description="70,000 28x28 grayscale handwritten digits 0-9 (official 60k/10k split).",
        license="CC BY-SA 3.0 (as commonly redistributed); (c) Yann LeCun and Corinna Cortes",
        citation="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to document "
        "recognition. Proc. IEEE 86(11):2278-2324, 1998.",
        homepage="http://yann.lecun.com/exdb/mnist/",
        splits={"train": 60000, "test": 10000},
        files=_files(_MNIST, MNIST_MIRRORS),
        class_names=tuple(str(d) for d in range(10)),
    ),
    DatasetInfo(
        name="fashion-mnist",
        folder="fashion-mnist",
        modality=Modality.IMAGE,
        kind="classification",
        description="70,000 28x28 grayscale Zalando article images in 10 classes (official 60k/10k split).",
        license="MIT, (c) 2017 Zalando SE",
        citation="H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking "
        "Machine Learning Algorithms. arXiv:1708.07747, 2017.",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        splits={"train": 60000, "test": 10000},
        files=_files(_FASHION, FASHION_MIRRORS) + _files(_FASHION_DOCS, (FASHION_RAW,)),
        class_names=FASHION_CLASSES,
    ),
    DatasetInfo(
        name="fsdd",
        folder="fsdd",
        modality=Modality.AUDIO,
        kind="classification",
        description="3,000 8 kHz recordings of spoken digits 0-9 by 6 speakers (50 per digit and speaker); "
        "test = recordings 0-4 of every speaker and digit (300), train = 5-49 (2,700).",
        license="CC BY-SA 4.0",
        citation="Z. Jackson et al. Free Spoken Digit Dataset (FSDD). "
        "https://github.com/Jakobovski/free-spoken-digit-dataset (v1.0.10+27, commit 26eb9aa).",
        homepage="https://github.com/Jakobovski/free-spoken-digit-dataset",
        splits={"train": 2700, "test": 300},
        files=_files(_FSDD_DOCS, (FSDD_RAW,)),
        tree=TreeInfo(
            pattern="recordings/*.wav",
            count=3000,
            digest="8e93d921858aef62b9e5418e7806b2a88053a987957b4e49c37c43e1662ea0ea",
            archive_urls=(f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.zip",),
            archive_prefix=f"free-spoken-digit-dataset-{FSDD_COMMIT}/",
        ),
        class_names=tuple(str(d) for d in range(10)),
        extra={"sample_rate": "8000"},
    ),
    DatasetInfo(
        name="banking77",
        folder="banking77",
        modality=Modality.TEXT,
        kind="classification",
        description="13,083 online-banking customer queries labelled with 77 intents "
        "(train 10,003 / test 3,080; no official dev split).",
        license="CC BY 4.0",
        citation="I. Casanueva, T. Temcinas, D. Gerz, M. Henderson, I. Vulic. Efficient Intent Detection "
        "with Dual Sentence Encoders. NLP4ConvAI workshop, ACL 2020 (arXiv:2003.04807).",
        homepage="https://github.com/PolyAI-LDN/task-specific-datasets",
        splits={"train": 10003, "test": 3080},
        files=_files(_BANKING, (BANKING_RAW,)),
    ),
    DatasetInfo(
        name="scitldr",
        folder="scitldr",
        modality=Modality.TEXT,
        kind="summarization",
        description="SciTLDR-A: 3,229 paper abstracts with one-sentence TLDRs "
        "(train 1,992 / dev 619 / test 618); "
        "dev/test carry several reference TLDRs per paper (author + peer-review derived).",
        license="Apache-2.0",
        citation="I. Cachola, K. Lo, A. Cohan, D. S. Weld. TLDR: Extreme Summarization of Scientific "
        "Documents. "
        "Findings of EMNLP 2020 (arXiv:2004.15011).",
        homepage="https://github.com/allenai/scitldr",
        splits={"train": 1992, "dev": 619, "test": 618},
        files=_scitldr_files(),
    ),
):
    register_dataset(_meta)
