"""TEMPORARY scaffold so the dispatcher imports; the owner replaces this file entirely."""


def register(sub):
    p = sub.add_parser("retrieve", help="(not yet implemented)")
    p.set_defaults(func=lambda args: (_ for _ in ()).throw(NotImplementedError("retrieve")))
