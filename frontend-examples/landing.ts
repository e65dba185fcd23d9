// The landing page: the server at a glance, so a broken setup shows here rather than on the
// next page.

import { describeError, request } from "./shared/graphql.ts";
import { byId } from "./shared/dom.ts";
import type { LandingQuery, LandingQueryVariables } from "./shared/generated/graphql.ts";

const LANDING = /* GraphQL */ `
  query Landing {
    health { status }
    collectionStats { documents chunks model vectorBackend metadataBackend }
  }`;

const line = byId("server");
try {
  const { data } = await request<LandingQuery, LandingQueryVariables>(LANDING, {});
  const s = data.collectionStats;
  line.textContent = `Server ${data.health.status.toLowerCase()} · ${s.documents.toLocaleString("en")} documents, ` +
    `${s.chunks.toLocaleString("en")} chunks · model ${s.model} · ${s.vectorBackend} vectors, ${s.metadataBackend} metadata`;
  line.className = "message ok";
} catch (error) {
  line.textContent = `The API does not answer: ${describeError(error)}`;
  line.className = "message error";
}
