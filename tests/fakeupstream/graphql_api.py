"""GitHub GraphQL (a subset of the real schema), executed for real with graphql-core.

Runs with ``FakeState.lock`` held: resolvers read the repositories directly.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    execute,
    get_location,
    get_named_type,
    get_operation_ast,
    parse,
    validate,
    value_from_ast,
)
from graphql.type.definition import GraphQLInterfaceType

from .github import commits_with_sha, node_id
from .protocol import iso, parse_time

if TYPE_CHECKING:
    from .state import FakeRepo, FakeState

SDL = """
scalar DateTime
scalar GitTimestamp
scalar URI

type Query {
  repository(owner: String!, name: String!, followRenames: Boolean = true): Repository
  rateLimit(dryRun: Boolean = false): RateLimit
}

type RateLimit { cost: Int! limit: Int! remaining: Int! resetAt: DateTime! used: Int! nodeCount: Int! }

type Repository {
  id: ID!
  databaseId: Int
  name: String!
  nameWithOwner: String!
  url: URI!
  description: String
  stargazerCount: Int!
  forkCount: Int!
  isArchived: Boolean!
  isDisabled: Boolean!
  pushedAt: DateTime
  defaultBranchRef: Ref
}

type Ref { name: String! target: GitObject }

interface GitObject { oid: ID! }

type Commit implements GitObject {
  oid: ID!
  committedDate: DateTime!
  history(
    first: Int, last: Int, after: String, since: GitTimestamp, until: GitTimestamp
  ): CommitHistoryConnection!
}

type CommitHistoryConnection { totalCount: Int! nodes: [Commit] pageInfo: PageInfo! }

type PageInfo { hasNextPage: Boolean! endCursor: String }
"""


class NotFoundError(Exception):
    """A repository that cannot be resolved: GitHub reports it as a typed error, not a GraphQL one."""


@dataclass
class Cost:
    requests: int = 0
    node_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def points(self) -> int:
        # "Divide the number by 100 and round the result to the nearest whole number" (half up), min 1.
        return max(1, int(self.requests / 100 + 0.5))


# ---------------------------------------------------------------------- cost
def query_cost(
    schema: GraphQLSchema, document: DocumentNode, op: OperationDefinitionNode, variables: dict
) -> Cost:
    """GitHub's rule: every connection needs one request per parent instance, each assumed to return
    its full ``first``/``last``; a root-level field is one parent, a connection's nodes multiply."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    cost = Cost()

    def walk(selections: SelectionSetNode | None, parent: Any, multiplier: int, path: list[str]) -> None:
        if selections is None:
            return
        for sel in selections.selections:
            if isinstance(sel, FieldNode):
                fields = getattr(parent, "fields", {})
                definition = fields.get(sel.name.value)
                if definition is None:  # __typename and friends
                    continue
                named = get_named_type(definition.type)
                key = sel.alias.value if sel.alias else sel.name.value
                child_multiplier = multiplier
                if named.name.endswith("Connection"):
                    size = page_size(sel, [*path, key])
                    cost.requests += multiplier
                    cost.node_count += multiplier * size
                    child_multiplier = multiplier * size
                if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
                    walk(sel.selection_set, named, child_multiplier, [*path, key])
            elif isinstance(sel, InlineFragmentNode):
                target = schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                walk(sel.selection_set, target, multiplier, path)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                fragment = fragments[sel.name.value]
                walk(
                    fragment.selection_set,
                    schema.get_type(fragment.type_condition.name.value),
                    multiplier,
                    path,
                )

    def page_size(node: FieldNode, path: list[str]) -> int:
        args = {
            a.name.value: value_from_ast(a.value, GraphQLInt, variables)
            for a in node.arguments or ()
            if a.name.value in ("first", "last")
        }
        first, last = (v if isinstance(v, int) else None for v in (args.get("first"), args.get("last")))
        name = node.name.value
        location = []
        if node.loc:
            where = get_location(node.loc.source, node.loc.start)
            location = [{"line": where.line, "column": where.column}]
        if first is None and last is None:
            cost.errors.append(
                {
                    "type": "MISSING_PAGINATION_BOUNDARIES",
                    "path": path,
                    "locations": location,
                    "message": "You must provide a `first` or `last` value to properly paginate "
                    f"the `{name}` connection.",
                }
            )
            return 0
        for arg, value in (("first", first), ("last", last)):
            if value is not None and not 1 <= value <= 100:
                cost.errors.append(
                    {
                        "type": "EXCESSIVE_PAGINATION",
                        "path": path,
                        "locations": location,
                        "message": f"Requesting {value} records on the `{name}` connection exceeds the "
                        f"`{arg}` limit of 100 records.",
                    }
                )
                return 0
        return int(first if first is not None else last)

    walk(op.selection_set, schema.query_type, 1, [])
    return cost


# ---------------------------------------------------------------------- resolvers
def _cursor(sha: str, offset: int) -> str:
    return base64.b64encode(f"{sha} {offset}".encode()).decode()


def _commit(repo: FakeRepo, history: list[tuple[str, datetime]], index: int) -> dict[str, Any]:
    sha, moment = history[index]
    return {"oid": sha, "committedDate": iso(moment), "_repo": repo, "_history": history, "_index": index}


def repository_json(repo: FakeRepo) -> dict[str, Any]:
    history = commits_with_sha(repo)
    ref = {"name": repo.default_branch, "target": _commit(repo, history, 0)} if history else None
    return {
        "id": node_id("Repository", repo.id),
        "databaseId": repo.id,
        "name": repo.name,
        "nameWithOwner": repo.full_name,
        "url": f"https://github.com/{repo.full_name}",
        "description": repo.description,
        "stargazerCount": repo.stars,
        "forkCount": repo.forks,
        "isArchived": repo.archived,
        "isDisabled": False,
        "pushedAt": iso(repo.pushed_at),
        "defaultBranchRef": ref,
    }


def resolve_repository(
    _root: Any, info: GraphQLResolveInfo, owner: str, name: str, followRenames: bool = True
):
    state: FakeState = info.context["state"]
    full_name = f"{owner}/{name}"
    slot = state._slot_by_name(full_name) or (state._slot_by_old_name(full_name) if followRenames else None)
    if slot is None:
        raise NotFoundError(f"Could not resolve to a Repository with the name '{full_name}'.")
    return repository_json(slot.repo)


def resolve_history(commit: dict[str, Any], _info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
    # History of a commit: itself and everything older, newest first.
    history: list[tuple[str, datetime]] = commit["_history"][commit["_index"] :]
    since = parse_time(args["since"]) if args.get("since") else None
    until = parse_time(args["until"]) if args.get("until") else None
    matching = [
        (i + commit["_index"], sha, m)
        for i, (sha, m) in enumerate(history)
        if (since is None or m >= since) and (until is None or m <= until)
    ]
    start = 0
    if args.get("after"):
        try:
            start = int(base64.b64decode(args["after"]).decode().rsplit(" ", 1)[1]) + 1
        except (ValueError, IndexError) as exc:
            raise GraphQLError(f"`{args['after']}` does not appear to be a valid cursor.") from exc
    window = matching[start:]
    if args.get("first") is not None:
        page, offset = window[: args["first"]], start
    else:
        page = window[-args["last"] :] if args.get("last") else []
        offset = start + len(window) - len(page)
    nodes = [_commit(commit["_repo"], commit["_history"], index) for index, _, _ in page]
    return {
        "totalCount": len(matching),
        "nodes": nodes,
        "pageInfo": {
            "hasNextPage": offset + len(page) < len(matching),
            "endCursor": _cursor(page[-1][1], offset + len(page) - 1) if page else None,
        },
    }


def _build_schema() -> GraphQLSchema:
    schema = build_schema(SDL)
    schema.query_type.fields["repository"].resolve = resolve_repository
    schema.query_type.fields["rateLimit"].resolve = lambda _root, info, **_: info.context["rate"]
    commit_type = schema.get_type("Commit")
    commit_type.fields["history"].resolve = resolve_history
    schema.get_type("GitObject").resolve_type = lambda _obj, _info, _type: "Commit"
    return schema


SCHEMA = _build_schema()


# ---------------------------------------------------------------------- entry point
@dataclass
class Prepared:
    """A request body checked and costed, ready to run (or an error payload to return as is)."""

    payload: dict[str, Any] | None = None  # set when the document cannot run
    cost: int = 0
    node_count: int = 0
    document: DocumentNode | None = None
    operation_name: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)


def prepare(body: Any) -> Prepared:
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return Prepared(
            {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
        )
    variables = body.get("variables") or {}
    try:
        document = parse(body["query"])
    except GraphQLError as error:
        return Prepared({"errors": [error.formatted]})
    errors = validate(SCHEMA, document)
    if errors:
        return Prepared({"errors": [e.formatted for e in errors]})
    op = get_operation_ast(document, body.get("operationName"))
    if op is None:
        return Prepared(
            {"errors": [{"message": "Must provide operation name if query contains multiple operations."}]}
        )
    cost = query_cost(SCHEMA, document, op, variables)
    if cost.errors:
        return Prepared({"errors": cost.errors})
    return Prepared(None, cost.points, cost.node_count, document, body.get("operationName"), variables)


def run(state: FakeState, prepared: Prepared, rate: dict[str, Any]) -> dict[str, Any]:
    assert prepared.document is not None
    result = execute(
        SCHEMA,
        prepared.document,
        context_value={"state": state, "rate": rate},
        variable_values=prepared.variables,
        operation_name=prepared.operation_name,
    )
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [_format_error(e) for e in result.errors]
    return payload


def _format_error(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    if isinstance(error.original_error, NotFoundError):
        # GitHub's shape: a top-level "type", no "extensions".
        return {
            "type": "NOT_FOUND",
            "path": formatted.get("path"),
            "locations": formatted.get("locations"),
            "message": str(error.original_error),
        }
    return formatted


def reset_at(epoch: int) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC)) or ""
