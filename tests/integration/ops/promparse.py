"""Parse Prometheus text exposition with the real parser
(python3-prometheus-client, a Debian package), never by eye."""
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # a python3 outside Debian's (pyenv): use Debian's package
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families


def parse(text):
    """{family name: (type, {(sample name, frozenset(labels)): value})}"""
    out = {}
    for fam in text_string_to_metric_families(text):
        samples = {}
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
        out[fam.name] = (fam.type, samples)
    return out


def value(families, family, sample=None, **labels):
    _type, samples = families[family]
    return samples[(sample or family, frozenset(labels.items()))]
