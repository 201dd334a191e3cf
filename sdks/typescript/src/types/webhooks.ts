import type { ListParams } from "../pagination.js";
import type { ExpandParams, Metadata, MetadataParam, Timestamp } from "./common.js";

export interface WebhookEndpoint {
  id: string;
  object: "webhook_endpoint";
  url: string;
  enabled_events: string[];
  status: "enabled" | "disabled";
  description: string | null;
  metadata: Metadata;
  created: Timestamp;
  livemode: boolean;
  api_version: string | null;
  application: string | null;
  /** `whsec_...`: in the answer to the creation only. Keep it then. */
  secret?: string;
}

export interface WebhookEndpointCreateParams extends ExpandParams {
  url: string;
  /** Event types, or `*` for all. */
  enabled_events: string[];
  description?: string;
  metadata?: MetadataParam;
  api_version?: string;
}

export interface WebhookEndpointUpdateParams extends ExpandParams {
  url?: string;
  enabled_events?: string[];
  disabled?: boolean;
  description?: string | null;
  metadata?: MetadataParam | null;
}

export type WebhookEndpointListParams = ListParams;

/** A Stripe event (what webhooks deliver): `data.object` is the object as the API answers it. */
export interface Event<T = Record<string, unknown>> {
  id: string;
  object: "event";
  api_version: string;
  created: Timestamp;
  type: string;
  data: { object: T; previous_attributes: Record<string, unknown> | null };
  livemode: boolean;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
}

export interface EventListParams extends ListParams {
  /** An event type; `*` is a wildcard (`invoice.*`). */
  type?: string;
  types?: string[];
  created?: Timestamp | { gt?: Timestamp; gte?: Timestamp; lt?: Timestamp; lte?: Timestamp };
  delivery_success?: boolean;
}
