/** `client.testClocks` (`/v1/test_helpers/test_clocks`, test mode): a month in seconds. */

import type { ListRequest } from "../pagination.js";
import type { RequestOptions } from "../transport.js";
import type { DeletedObject } from "../types/common.js";
import type {
  TestClock,
  TestClockAdvanceParams,
  TestClockCreateParams,
  TestClockListParams,
} from "../types/testClocks.js";
import { path, Resource } from "./resource.js";

export class TestClocks extends Resource {
  create(params: TestClockCreateParams, options?: RequestOptions): Promise<TestClock> {
    return this.post("/v1/test_helpers/test_clocks", params, options);
  }

  retrieve(id: string, options?: RequestOptions): Promise<TestClock> {
    return this.get(path`/v1/test_helpers/test_clocks/${id}`, undefined, options);
  }

  list(params?: TestClockListParams, options?: RequestOptions): ListRequest<TestClock> {
    return this.listAt("/v1/test_helpers/test_clocks", params, options);
  }

  /** Deletes every customer attached to the clock too. */
  del(id: string, options?: RequestOptions): Promise<DeletedObject<"test_helpers.test_clock">> {
    return this.delete(path`/v1/test_helpers/test_clocks/${id}`, undefined, options);
  }

  /** Move the clock forward; resolves once every period end before the new time has run. */
  advance(
    id: string,
    params: TestClockAdvanceParams,
    options?: RequestOptions,
  ): Promise<TestClock> {
    return this.post(path`/v1/test_helpers/test_clocks/${id}/advance`, params, options);
  }
}
