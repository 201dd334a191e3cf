import type { ListParams } from "../pagination.js";
import type { Timestamp } from "./common.js";

/** A frozen time that its customers live on (test mode only). */
export interface TestClock {
  id: string;
  object: "test_helpers.test_clock";
  created: Timestamp;
  deletes_after: Timestamp;
  frozen_time: Timestamp;
  livemode: boolean;
  name: string | null;
  status: "ready" | "advancing" | "internal_failure";
  status_details: Record<string, unknown>;
}

export interface TestClockCreateParams {
  /** Unix seconds, any time of the years 2000 to 2100. */
  frozen_time: Timestamp | Date;
  name?: string;
}

export interface TestClockAdvanceParams {
  /** Later than the clock's time: every period end, cancellation and grace period before it
   * runs, in time order, before the call answers. */
  frozen_time: Timestamp | Date;
}

export type TestClockListParams = ListParams;
