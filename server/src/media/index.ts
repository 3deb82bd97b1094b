// The media lifecycle as the scripts and benchmarks see it: the repository the
// API's handlers use, the dashboard's list and views, the admin actions and the
// row-to-message mapping. Exported as @media/server/media.
export { type ActionOutcome, type AdminActions, createAdminActions } from "./admin-actions.ts";
export { sweepAttestations } from "./attestations.ts";
export {
  BulkActionMovedError,
  type ChunkResult,
  finishBulkAction,
  runChangeChunk,
  runRestoreChunk,
  startBulkAction,
} from "./bulk-actions.ts";
export { FEED_START, type FeedFilter, readFeedPage, SCAN_LIMIT } from "./event-feed.ts";
export { mediaToProto, stateFromProto, stateToProto, unlinkOwnerToProto } from "./mapping.ts";
export {
  cursorFromToken,
  type ListedMedia,
  listMedia,
  MEDIA_ORDERS,
  MEDIA_PAGE_TOKENS,
  type MediaCursor,
  type MediaFilter,
  type MediaOrder,
} from "./media-list.ts";
export {
  type CreateOutcome,
  createMediaRepository,
  type MediaRepository,
  type NewMediaInput,
  type ReferenceOutcome,
  type UnlinkOwnerResult,
} from "./media-repository.ts";
export { deletionHistory, getStats, listMediaEvents, listMediaReferences, type MediaStats } from "./media-views.ts";
export {
  createReconciliation,
  failReconciliation,
  getReconciliation,
  type PageResult,
  ReconciliationMovedError,
  reconcilePage,
  startReconciliation,
} from "./reconciliations.ts";
export { foldStateDeltas, readStateTotals, repairStateTotals } from "./state-totals.ts";
