"""korus-research: a reproducible study of the US goods balance with a trade partner.

The package holds everything the notebooks repeat: the data registry and fetching
(:mod:`korus_research.registry`, :mod:`korus_research.fetch`), the parsers and
validated processed tables (:mod:`korus_research.parsers`, :mod:`korus_research.schemas`,
:mod:`korus_research.prepare`, :mod:`korus_research.io`), the analysis functions
(:mod:`korus_research.balance`) and the report builder (:mod:`korus_research.report`).
"""

__version__ = "0.1.0"
