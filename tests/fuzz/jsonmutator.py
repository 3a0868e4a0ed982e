"""A structure-aware mutator for the JSON-fed targets (R, jobspec, constraint).

libFuzzer's byte mutations rarely keep JSON valid, so most of their inputs
would die in ``json.loads`` before reaching fluxpool. This mutator parses the
input, changes one node of the tree (replace it with an interesting value,
delete it, duplicate it, wrap it, nest it deeper, add a key from the target's
vocabulary) and writes JSON back. One mutation in four is still a plain byte
mutation, so malformed text keeps being tried too.
"""

import json
import random

__all__ = ["make_mutator"]

_NUMBERS = [0, 1, 2, 3, -1, -2, 7, 8, 16, 63, 64, 65, 255, 1023, 4095, 4096, 16383, 16384,
            65535, 65536, 1048575, 1048576, 4194303, 4194304, 2**31 - 2, 2**31 - 1, 2**31,
            2**32, 2**63, 10**12, 10**400, -10**400, 0.5, 1.0, 2.5, -0.0, 1e308, 1e-308]
_SPECIAL_TEXT = ['1e400', '-1e400', 'NaN', 'Infinity', '-Infinity', 'true', 'false', 'null',
                 '[]', '{}', '""']


def _paths(value, path=(), out=None, limit=400):
    """Every node of the tree as a path of keys/indexes (bounded)."""
    if out is None:
        out = []
    if len(out) >= limit:
        return out
    out.append(path)
    if isinstance(value, dict):
        for key in list(value)[:50]:
            _paths(value[key], path + (key,), out, limit)
    elif isinstance(value, list):
        for i in range(min(len(value), 50)):
            _paths(value[i], path + (i,), out, limit)
    return out


def _get(value, path):
    for step in path:
        value = value[step]
    return value


def _set(root, path, new):
    if not path:
        return new
    parent = _get(root, path[:-1])
    parent[path[-1]] = new
    return root


def _delete(root, path):
    if not path:
        return root
    parent = _get(root, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        del parent[path[-1]]
    return root


class _Mutator:
    def __init__(self, words, keys, templates):
        self.words = list(words)
        self.keys = list(keys)
        self.templates = list(templates)

    def value(self, rng, depth=0):
        """A random interesting JSON value."""
        roll = rng.random()
        if roll < 0.3:
            return rng.choice(_NUMBERS)
        if roll < 0.6:
            word = rng.choice(self.words)
            if rng.random() < 0.2:
                word = word + rng.choice(self.words)
            return word
        if roll < 0.75 and self.templates:
            return json.loads(rng.choice(self.templates))
        if roll < 0.8:
            return rng.choice([True, False, None])
        if depth > 2:
            return rng.choice(self.words)
        if roll < 0.9:
            return [self.value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(self.keys): self.value(rng, depth + 1) for _ in range(rng.randint(0, 3))}

    def mutate_tree(self, tree, rng):
        paths = _paths(tree)
        path = rng.choice(paths)
        node = _get(tree, path)
        op = rng.randrange(9)
        if op == 0:
            return _set(tree, path, self.value(rng))
        if op == 1:
            return _delete(tree, path)
        if op == 2 and isinstance(node, list) and node:
            node.append(json.loads(json.dumps(rng.choice(node))))
            return tree
        if op == 3 and isinstance(node, dict):
            node[rng.choice(self.keys)] = self.value(rng)
            return tree
        if op == 4:  # wrap: deeper nesting
            wrapper = rng.choice(self.keys)
            return _set(tree, path, {wrapper: [node]} if rng.random() < 0.7 else [node])
        if op == 5 and isinstance(node, str):  # edit text in place
            if node and rng.random() < 0.5:
                cut = rng.randrange(len(node))
                return _set(tree, path, node[:cut] + rng.choice(self.words) + node[cut + 1:])
            return _set(tree, path, node + rng.choice(",-[]0123456789^+:*"))
        if op == 6 and isinstance(node, (int, float)) and not isinstance(node, bool):
            return _set(tree, path, rng.choice([node + 1, node - 1, node * 2, -node,
                                                 str(node), rng.choice(_NUMBERS)]))
        if op == 7:  # graft another subtree here
            other = _get(tree, rng.choice(paths))
            return _set(tree, path, json.loads(json.dumps(other)))
        if op == 8 and isinstance(node, list) and len(node) > 1:
            rng.shuffle(node)
            return tree
        return _set(tree, path, self.value(rng))

    def __call__(self, data, max_size, seed, byte_mutate):
        rng = random.Random(seed)
        if rng.random() < 0.25:
            return byte_mutate(data, max_size)
        try:
            tree = json.loads(data)
        except (ValueError, RecursionError):
            return byte_mutate(data, max_size)
        try:
            for _ in range(rng.randint(1, 3)):
                tree = self.mutate_tree(tree, rng)
            text = json.dumps(tree)
        except (RecursionError, ValueError, TypeError, IndexError, KeyError):
            return byte_mutate(data, max_size)
        if rng.random() < 0.05:  # a non-standard literal the json module still reads
            text = text.replace(str(rng.choice([0, 1, 2])), rng.choice(_SPECIAL_TEXT), 1)
        out = text.encode("utf-8", "surrogatepass")
        if len(out) > max_size:
            return byte_mutate(data, max_size)
        return out


def make_mutator(words, keys, templates=()):
    """A ``mutate(data, max_size, seed, byte_mutate) -> bytes`` for one target:
    ``words`` are strings worth trying as values, ``keys`` are object keys the
    target's format uses, ``templates`` are JSON texts of whole sub-objects."""
    return _Mutator(words, keys, templates)
