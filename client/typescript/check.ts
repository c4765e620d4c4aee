// check.sh compiles this against the types openapi-typescript makes from
// transport/httpapi/openapi.json (invitesvc.d.ts, not committed). It uses
// what a web console needs of each answer and error, so tsc fails when the
// document's types lose a field or turn it into any or unknown, as
// oapi-codegen once did with the invitations and every error body.
import type { components, paths } from "./invitesvc";

type Schemas = components["schemas"];
type Invitations = paths["/organizations/{organization_id}/invitations"];
type ByToken = paths["/organizations/invitations/{invitation_token}"];
type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;

type Created = Json<Invitations["post"]["responses"][201]>;
type Page = Json<Invitations["get"]["responses"][200]>;
type LookedUp = Json<ByToken["get"]["responses"][200]>;
type Accepted = Json<paths["/organizations/invitations/{invitation_token}/_accept"]["post"]["responses"][200]>;
type History = Json<paths["/organizations/{organization_id}/invitations/{invitation_id}/events"]["get"]["responses"][200]>;
type Members = Json<paths["/organizations/{organization_id}/members"]["get"]["responses"][200]>;
type CreateRejected = Json<Invitations["post"]["responses"][409]>;
type TokenNotFound = Json<ByToken["get"]["responses"][404]>;
type CreateBody = NonNullable<Invitations["post"]["requestBody"]>["content"]["application/json"];

// Known<T> is true unless T is any or unknown.
type IsAny<T> = 0 extends 1 & T ? true : false;
type Known<T> = IsAny<T> extends true ? false : unknown extends T ? false : true;
type Assert<T extends true> = T;
export type FieldsAreKnown = [
  Assert<Known<Created["invitations"][number]["id"]>>,
  Assert<Known<Created["invitations"][number]["email"]>>,
  Assert<Known<Created["invitations"][number]["token"]>>,
  Assert<Known<LookedUp["token"]>>,
  Assert<Known<Page["links"]["next"]>>,
  Assert<Known<History["events"][number]["data"]>>,
  Assert<Known<CreateRejected["errors"][number]["code"]>>,
  Assert<Known<TokenNotFound["errors"][number]["fields"]>>,
];

type Status = "pending" | "accepted" | "cancelled" | "expired";

export const invite: CreateBody = { emails: ["ada@example.com", "bob@example.com"], role: "member", expires_in: "3d" };
// role and expires_in have defaults: a body may leave them out.
export const inviteWithDefaults: CreateBody = { emails: ["ada@example.com"] };

// email is null once the address was erased (email_erased: true).
export function created(body: Created): { id: string; email: string | null; status: Status; token?: string; version: number }[] {
  return body.invitations.map((inv) => ({ id: inv.id, email: inv.email, status: inv.status, token: inv.token, version: inv.version }));
}

export function lookedUp(body: LookedUp): [string, string, Status, string] {
  return [body.id, body.organization.name, body.status, body.token];
}

export function nextPage(body: Page): string | undefined {
  const pending: Schemas["Invitation"][] = body.invitations.filter((inv) => inv.status === "pending" && !inv.expired);
  return pending.length > 0 ? body.links.next : undefined;
}

export function membership(body: Accepted): [string, string | null, Schemas["Role"], string] {
  return [body.membership.user_id, body.membership.email, body.membership.role, body.organization.id];
}

export function members(body: Members): string[] {
  return body.members.map((m) => `${m.user_id} ${m.email} ${m.joined_at}`);
}

export function cancelledBy(body: History): string | undefined {
  for (const event of body.events) {
    if (event.type === "invitation.cancelled" && "invitation_id" in event.data) {
      return event.actor;
    }
  }
  return undefined;
}

export function errorCodes(body: CreateRejected | TokenNotFound): Schemas["ErrorCode"][] {
  return body.errors.map((e) => e.code);
}

export function firstError(body: TokenNotFound): [Schemas["ErrorCode"], string, string[] | undefined] {
  const e = body.errors[0];
  return [e.code, e.message, e.fields];
}
