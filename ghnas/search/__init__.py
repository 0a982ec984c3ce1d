from ghnas.search.candidates import sample_distinct
from ghnas.search.random_search import RandomSearch, count_parameters
from ghnas.search.result_store import ResultStore, load_results
from ghnas.search.scoring import ArchitectureScorer

__all__ = [
    "ArchitectureScorer",
    "RandomSearch",
    "ResultStore",
    "count_parameters",
    "load_results",
    "sample_distinct",
]
