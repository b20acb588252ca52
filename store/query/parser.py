"""Recursive-descent parser: query text → `nodes.Query`.

    query   = source { clause } { "|" stage } ;
    source  = "sequence" step "then" step { "then" step } [ "within" dur ] [ "same" scope ]
            | step [ "without" step [ "within" dur ] [ "same" scope ] | "never" "received" ] ;
    step    = KIND [ target ] { "in" target | "of" process | "where" cond } ;
    clause  = "on" node { "," node } | "last" dur | "from" time | "to" time | "limit" INT ;

The full grammar, with every word, is in docs/query-language.md; keep the two in step.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .errors import QuerySyntaxError
from .lexer import Token, tokenize
from .nodes import (
    Agg, AbsenceSource, CountStage, EventsSource, LimitStage, ProcessSel, Query, RateStage,
    SequenceSource, SortStage, Source, Stage, StatsStage, Step, Target, TimePoint, TimeWindow,
)
from .parse_terms import TermParser
from .vocab import AGG_FUNCS, GROUP_KEYS, KIND_WORDS, did_you_mean

__all__ = ["parse"]

STEP_CLAUSES = ("in", "of", "where")
QUERY_CLAUSES = ("on", "last", "from", "to", "limit")
STAGES = ("count", "rate", "stats", "sort", "limit")
SORT_KEYS = ("time", "duration", "count")


# Bounds on what a query may ask for (docs/query-language.md, "Limits").
MAX_QUERY_CHARS = 20_000
MAX_NESTING = 64
MAX_SEQUENCE_STEPS = 32

_OPENERS = {"(", "[", "{", "%{", "<<"}
_CLOSERS = {")", "]", "}", ">>"}


def parse(text: str) -> Query:
    """Parse a query; raise `QuerySyntaxError` (with position and a suggested fix) if wrong.
    Only `QuerySyntaxError` leaves this function, whatever the text."""
    if not isinstance(text, str):
        raise QuerySyntaxError(f"a query is text, got {type(text).__name__}", "", 0)
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"the query is {len(text)} characters long; at most {MAX_QUERY_CHARS} are accepted",
                               text[:80], 0, 80, "write a shorter query (filter with 'where', split it up)")
    try:
        parser = QueryParser(text)
        _check_nesting(text, parser.tokens)
        return parser.query()
    except QuerySyntaxError:
        raise
    except RecursionError:
        raise QuerySyntaxError("the query is nested too deeply", text, 0, None,
                               f"use at most {MAX_NESTING} levels of brackets") from None
    except (ValueError, OverflowError, ArithmeticError) as exc:
        raise QuerySyntaxError(f"a value in the query is out of range ({exc})", text, 0, None,
                               "use smaller numbers") from None


def _check_nesting(text: str, tokens: list[Token]) -> None:
    depth = 0
    for tok in tokens:
        if tok.kind != "OP":
            continue
        if tok.value in _OPENERS:
            depth += 1
            if depth > MAX_NESTING:
                raise QuerySyntaxError(f"brackets nested more than {MAX_NESTING} levels deep", text,
                                       tok.start, tok.end, "flatten the pattern or the condition")
        elif tok.value in _CLOSERS:
            depth = max(depth - 1, 0)


class QueryParser(TermParser):
    def __init__(self, text: str) -> None:
        super().__init__(text, tokenize(text))

    # ------------------------------------------------------------ query

    def query(self) -> Query:
        if self.peek().kind == "EOF":
            raise self.fail("the query is empty", self.peek(),
                            "start with what to look at, e.g. 'calls MyApp.Cart.add/2'")
        source = self.source()
        window = TimeWindow()
        nodes: list[str] = []
        stages: list[Stage] = []
        while True:
            tok = self.peek()
            if tok.kind == "EOF" or self.at_op("|"):
                break
            if tok.kind == "IDENT" and tok.value in QUERY_CLAUSES:
                word = str(self.advance().value)
                if word == "on":
                    nodes.extend(self.node_names())
                elif word == "last":
                    if window.last_ns is not None or window.start or window.end:
                        raise self.fail("only one time window per query", tok,
                                        "use either 'last D' or 'from T to T'")
                    window = TimeWindow(last_ns=self.duration("a window length"))
                elif word in ("from", "to"):
                    if window.last_ns is not None:
                        raise self.fail("only one time window per query", tok,
                                        "use either 'last D' or 'from T to T'")
                    point = self.time_point()
                    if word == "from":
                        window = TimeWindow(start=point, end=window.end)
                    else:
                        window = TimeWindow(start=window.start, end=point)
                else:
                    stages.append(self.limit_stage(tok))
                continue
            raise self.unexpected(tok, "a clause (on, last, from, to, limit) or '|'")
        while self.at_op("|"):
            self.advance()
            stages.append(self.stage())
        tok = self.peek()
        if tok.kind != "EOF":
            raise self.unexpected(tok, "'|' and a stage, or the end of the query")
        self.check_stages(stages)
        return Query(source, window, tuple(nodes), tuple(stages), self.text)

    def unexpected(self, tok: Token, wanted: str):
        if tok.kind == "IDENT":
            word = str(tok.value)
            if word in STEP_CLAUSES:
                return self.fail(f"'{word}' cannot go here", tok,
                                 "in a sequence, put 'where'/'in'/'of' right after the step "
                                 "they refine (before 'then', 'within' or 'without')")
            nxt = self.peek(1)
            if nxt.start == tok.end and nxt.kind == "OP" and nxt.value == ":":
                return self.fail(f"Erlang-style module '{word}:' is not supported", tok,
                                 f"write :{word}.function/arity")
            choices = STEP_CLAUSES + QUERY_CLAUSES + ("then", "within", "same", "without")
            return self.fail(f"unexpected word '{word}' (expected {wanted})", tok,
                             did_you_mean(word, choices, "words here"))
        if tok.kind == "OP" and tok.value in ("&", "|"):
            return self.fail("unexpected operator", tok, "write 'and' / 'or'")
        return self.fail(f"expected {wanted}, found {self.describe(tok)}", tok,
                         "see docs/query-language.md for the grammar")

    # ------------------------------------------------------------ sources

    def source(self) -> Source:
        start = self.peek().start
        if self.at_word("sequence"):
            self.advance()
            steps = [self.step()]
            if not self.at_word("then"):
                raise self.fail("a sequence needs at least two steps joined by 'then'",
                                self.peek(), "write e.g. 'sequence call MyApp.A.f then exception'")
            while self.at_word("then"):
                word = self.advance()
                if len(steps) >= MAX_SEQUENCE_STEPS:
                    raise self.fail(f"a sequence has at most {MAX_SEQUENCE_STEPS} steps", word,
                                    "match a shorter chain, or narrow each step with 'where'")
                steps.append(self.step())
            within, scope = self.within_scope()
            return SequenceSource(tuple(steps), within, scope, start, self.tokens[self.i - 1].end)
        step = self.step()
        if self.at_word("never"):
            never = self.advance()
            word = self.peek()
            if not self.at_word("received"):
                raise self.fail("expected 'received' after 'never'", word,
                                "write 'sends never received'")
            self.advance()
            if step.kinds != ("send",):
                raise self.fail("'never received' applies to sends", never,
                                "write 'sends never received'", end=word.end)
            missing = Step(("receive",), start=never.start, end=word.end)
            return AbsenceSource(step, missing, "receive", None, None, start, word.end)
        if self.at_word("without"):
            self.advance()
            missing = self.step()
            within, scope = self.within_scope()
            if step.kinds == ("call",) and missing.kinds in (("return",), ("return", "exception")):
                mode = "return"
            elif step.kinds == ("send",) and missing.kinds == ("receive",):
                mode = "receive"
            else:
                mode = "generic"
            if mode != "generic" and (missing.cond or missing.target or missing.process):
                raise self.fail(f"the {missing.kinds[0]} of this pattern cannot be narrowed: it is "
                                f"the {'call' if mode == 'return' else 'send'}'s own",
                                start=missing.start, end=missing.end,
                                suggestion="put 'where', 'in' and 'of' before 'without', e.g. "
                                           "'calls MyApp.Repo.all where arg[0] = 1 without return'")
            if mode == "return":
                if scope == "node":
                    raise self.fail("a call's return is always in its own process",
                                    self.tokens[self.i - 1], "drop 'same node'")
            return AbsenceSource(step, missing, mode, within, scope, start,
                                 self.tokens[self.i - 1].end)
        return EventsSource(step)

    def within_scope(self) -> tuple[int | None, str | None]:
        within = scope = None
        for _ in range(2):
            if self.at_word("within") and within is None:
                self.advance()
                within = self.duration("a time limit")
            elif self.at_word("same") and scope is None:
                self.advance()
                tok = self.peek()
                if not self.at_word("process", "node", "pid"):
                    raise self.fail(f"expected 'process' or 'node' after 'same', found "
                                    f"{self.describe(tok)}", tok, "write 'same process'")
                scope = "node" if self.advance().value == "node" else "process"
        return within, scope

    def step(self) -> Step:
        tok = self.peek()
        if tok.kind != "IDENT" or tok.value not in KIND_WORDS:
            if tok.kind == "IDENT":
                word = str(tok.value)
                raise self.fail(f"unknown event kind '{word}'", tok,
                                did_you_mean(word, KIND_WORDS, "kinds"))
            raise self.fail(f"expected an event kind (calls, exceptions, sends, …), found "
                            f"{self.describe(tok)}", tok,
                            "start with a kind, e.g. 'calls MyApp.Cart.add/2'")
        self.advance()
        kinds = KIND_WORDS[str(tok.value)]
        target: Target | None = None
        process: ProcessSel | None = None
        cond = None
        if self._at_target():
            target = self.target()
        while self.at_word(*STEP_CLAUSES):
            word = self.advance()
            if word.value == "in":
                if target is not None:
                    raise self.fail("only one function target per step", word,
                                    "use 'where module = … or module = …' for several")
                target = self.target()
            elif word.value == "of":
                if process is not None:
                    raise self.fail("only one process per step", word,
                                    "use 'where pid in [<0.1.0>, <0.2.0>]' for several")
                process = self.process()
            else:
                more = self.condition()
                cond = more if cond is None else _and(cond, more)
        return Step(kinds, target, process, cond, tok.start, self.tokens[self.i - 1].end)

    def _erlang_mfa_at(self, tok: Token) -> bool:
        """``module:function`` as Erlang writes it: a word and, touching it, an atom."""
        nxt = self.peek(1)
        return tok.kind == "IDENT" and nxt.kind == "ATOM" and nxt.start == tok.end

    def _at_target(self) -> bool:
        tok = self.peek()
        if tok.kind == "ALIAS" or self._erlang_mfa_at(tok):
            return True
        if tok.kind == "ATOM":
            return True
        return tok.kind == "OP" and tok.value == "*"

    def target(self) -> Target:
        tok = self.peek()
        start = tok.start
        module: str | None
        prefix = False
        if tok.kind == "ALIAS":
            module, prefix, _ = self.alias_path()
        elif tok.kind == "ATOM":
            self.advance()
            module = str(tok.value)
        elif tok.kind == "OP" and tok.value == "*":
            self.advance()
            module = None
        elif self._erlang_mfa_at(tok):  # rabbit_channel:handle_cast/2, as Erlang prints it
            module = str(self.advance().value)
            function: str | None = str(self.advance().value)
            return Target(module, False, function, self._arity(), start, self.tokens[self.i - 1].end)
        elif tok.kind == "IDENT" and self.peek(1).kind == "OP" and self.peek(1).value == ":":
            raise self.fail(f"Erlang-style module '{tok.value}:' is not supported", tok,
                            f"write :{tok.value}.function/arity")
        else:
            raise self.fail(f"expected a module or function like MyApp.Cart.add/2 or "
                            f":ets.lookup/2, found {self.describe(tok)}", tok,
                            "write Module, Module.function, Module.function/arity or Module.*")
        function: str | None = None
        if self.at_op(".") and not prefix:
            self.advance()
            ftok = self.peek()
            if ftok.kind == "IDENT":
                function = str(self.advance().value)
            elif ftok.kind == "ATOM":  # :"weird name"
                function = str(self.advance().value)
            elif ftok.kind == "OP" and ftok.value == "*":
                self.advance()
            else:
                raise self.fail(f"expected a function name after '.', found "
                                f"{self.describe(ftok)}", ftok,
                                "function names are lower case, e.g. MyApp.Cart.add")
        return Target(module, prefix, function, self._arity(), start, self.tokens[self.i - 1].end)

    def _arity(self) -> int | None:
        """``/N`` (an arity), ``/*`` or nothing (any arity): None for any."""
        if not self.at_op("/"):
            return None
        self.advance()
        atok = self.peek()
        if atok.kind == "INT":
            return int(self.advance().value)  # type: ignore[arg-type]
        if atok.kind == "OP" and atok.value == "*":
            self.advance()
            return None
        raise self.fail(f"expected an arity after '/', found {self.describe(atok)}",
                        atok, "write e.g. /2, or leave the arity out for any")

    def process(self) -> ProcessSel:
        tok = self.peek()
        if self.at_word("pid") and self.peek(1).kind == "PID":
            self.advance()
            tok = self.peek()
        if tok.kind == "PID":
            self.advance()
            return ProcessSel(pid=str(tok.value), start=tok.start, end=tok.end)
        if tok.kind == "ATOM":
            self.advance()
            return ProcessSel(name=str(tok.value), start=tok.start, end=tok.end)
        if tok.kind == "ALIAS":
            name, prefix, end = self.alias_path()
            if prefix:
                raise self.fail("a process name cannot be a wildcard", tok,
                                "name one process, e.g. 'of MyApp.Counter'", end=end)
            return ProcessSel(name=name, start=tok.start, end=end)
        raise self.fail(f"expected a process (a pid like <0.123.0>, a registered name like "
                        f":my_server or MyApp.Counter), found {self.describe(tok)}", tok,
                        "write e.g. 'of MyApp.Counter' or 'of <0.123.0>'")

    # ------------------------------------------------------------ clauses

    def node_names(self) -> list[str]:
        names = [self._node_name()]
        while self.at_op(","):
            self.advance()
            names.append(self._node_name())
        return names

    def _node_name(self) -> str:
        tok = self.peek()
        if tok.kind in ("STRING", "ATOM"):
            self.advance()
            return str(tok.value)
        if tok.kind == "IDENT" and "@" in str(tok.value):
            self.advance()
            return str(tok.value)
        raise self.fail(f"expected a node name like app@host, found {self.describe(tok)}", tok,
                        'write e.g. on app@host, or on "app@my-host.example" when it has dots')

    def time_point(self) -> TimePoint:
        tok = self.peek()
        if tok.kind == "STRING":
            self.advance()
            raw = str(tok.value).replace("Z", "+00:00")
            try:
                moment = datetime.fromisoformat(raw)
            except ValueError:
                raise self.fail(f"'{tok.value}' is not an ISO 8601 timestamp", tok,
                                'write e.g. "2026-11-21T20:01:02.5Z", or a duration since the '
                                "recording started such as 2s") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
            wall = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
            return TimePoint(wall_ns=wall)
        return TimePoint(offset_ns=self.duration("a moment (time since the recording started)"))

    # ------------------------------------------------------------ stages

    def stage(self) -> Stage:
        tok = self.peek()
        if tok.kind != "IDENT" or tok.value not in STAGES:
            if tok.kind == "IDENT":
                word = str(tok.value)
                hint = {"group": "write 'count by function'", "top": "write '| sort … desc | limit N'",
                        "order": "did you mean 'sort'?", "head": "did you mean 'limit'?",
                        "take": "did you mean 'limit'?"}.get(word) or did_you_mean(
                            word, STAGES, "stages")
                raise self.fail(f"unknown stage '{word}'", tok, hint)
            raise self.fail(f"expected a stage after '|', found {self.describe(tok)}", tok,
                            "stages: count, rate, stats, sort, limit")
        self.advance()
        word = tok.value
        if word == "count":
            return CountStage(self.group_by(), tok.start)
        if word == "rate":
            per = 1_000_000_000
            if self.at_word("per"):
                self.advance()
                per = self._per_unit()
            return RateStage(self.group_by(), per, tok.start)
        if word == "stats":
            aggs = [self.agg()]
            while self.at_op(","):
                self.advance()
                aggs.append(self.agg())
            names = [a.name for a in aggs]
            for a in aggs:
                if names.count(a.name) > 1:
                    raise self.fail(f"'{a.name}' is listed twice", start=a.start, end=a.end,
                                    suggestion="list each aggregate once")
            return StatsStage(tuple(aggs), self.group_by(), tok.start)
        if word == "sort":
            ktok = self.peek()
            if ktok.kind == "IDENT" and ktok.value == "by":
                self.advance()
                ktok = self.peek()
            if ktok.kind != "IDENT":
                raise self.fail(f"expected what to sort by, found {self.describe(ktok)}", ktok,
                                "write e.g. '| sort duration desc' or '| sort count desc'")
            self.advance()
            key = str(ktok.value)
            end = ktok.end
            if self.at_op("("):  # sort p99(duration)
                self.advance()
                arg = self.peek()
                self.advance()
                end = self.expect_op(")", "')'").end
                key = f"{key}({arg.value})"
            desc = False
            if self.at_word("asc", "desc"):
                desc = self.advance().value == "desc"
            return SortStage(key, desc, ktok.start, end)
        return self.limit_stage(tok)

    def limit_stage(self, tok: Token) -> LimitStage:
        n = self.peek()
        if n.kind != "INT" or int(n.value) < 1:  # type: ignore[arg-type]
            raise self.fail(f"expected a positive count after 'limit', found {self.describe(n)}",
                            n, "write e.g. 'limit 20'")
        self.advance()
        return LimitStage(int(n.value), tok.start)  # type: ignore[arg-type]

    def _per_unit(self) -> int:
        from .lexer import DURATION_UNITS

        tok = self.peek()
        if tok.kind == "IDENT" and tok.value in DURATION_UNITS:
            self.advance()
            return DURATION_UNITS[str(tok.value)]
        if tok.kind == "DURATION":
            self.advance()
            return int(tok.value)  # type: ignore[arg-type]
        raise self.fail(f"expected a time unit after 'per', found {self.describe(tok)}", tok,
                        "write 'rate per s', 'rate per min' or 'rate per 10s'")

    def agg(self) -> Agg:
        tok = self.peek()
        if tok.kind != "IDENT" or tok.value not in AGG_FUNCS:
            word = str(tok.value) if tok.kind == "IDENT" else self.describe(tok)
            alias = {"median": "p50", "mean": "avg", "average": "avg", "p999": "p999"}.get(word)
            raise self.fail(f"unknown aggregate {word!r}", tok,
                            f"did you mean '{alias}'?" if alias else did_you_mean(
                                word, AGG_FUNCS, "aggregates"))
        self.advance()
        func = str(tok.value)
        if func in ("count", "rate"):
            if self.at_op("("):  # count() is accepted
                self.advance()
                self.expect_op(")", "')'")
            return Agg(func, None, tok.start, self.tokens[self.i - 1].end)
        self.expect_op("(", f"'(' after {func}", f"write {func}(duration)")
        arg = self.peek()
        if not (arg.kind == "IDENT" and arg.value == "duration"):
            raise self.fail(f"{func}() takes 'duration', found {self.describe(arg)}", arg,
                            f"write {func}(duration)")
        self.advance()
        end = self.expect_op(")", f"')' to close {func}(").end
        return Agg(func, "duration", tok.start, end)

    def group_by(self) -> tuple[str, ...]:
        if not self.at_word("by"):
            return ()
        self.advance()
        keys = [self._group_key()]
        while self.at_op(","):
            self.advance()
            keys.append(self._group_key())
        return tuple(keys)

    def _group_key(self) -> str:
        tok = self.peek()
        word = str(tok.value) if tok.kind == "IDENT" else ""
        word = {"pid": "process", "name": "process", "mfa": "function"}.get(word, word)
        if word not in GROUP_KEYS:
            raise self.fail(f"cannot group by {self.describe(tok)}", tok,
                            did_you_mean(word, GROUP_KEYS, "grouping keys") if word else
                            "group by one of: " + ", ".join(GROUP_KEYS))
        self.advance()
        return word

    def check_stages(self, stages: list[Stage]) -> None:
        grouped = False
        for st in stages:
            if isinstance(st, (CountStage, RateStage, StatsStage)):
                if grouped:
                    raise self.fail("only one of count / rate / stats per query",
                                    start=st.start, end=st.start + 5,
                                    suggestion="combine them: '| stats count, rate, p99(duration)'")
                grouped = True
            if isinstance(st, SortStage):
                allowed = SORT_KEYS if not grouped else None
                if allowed is not None and st.key not in allowed:
                    raise self.fail(f"cannot sort events by '{st.key}'", start=st.start, end=st.end,
                                    suggestion=did_you_mean(st.key, SORT_KEYS, "sort keys"))


def _and(a, b):
    from .nodes import And

    return And(a, b)

