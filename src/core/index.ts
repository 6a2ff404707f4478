/** The replication core's public surface. */
export * from './types.js';
export * from './config.js';
export * from './errors.js';
export * from './membership.js';
export {
  RaftCore,
  type CoreOptions,
  type CoreStatus,
  type FollowerStatus,
  type ProposalReceipt,
  type RandomSource,
} from './core.js';
export { Prng } from './prng.js';
export { messagesBySync, type MessagesBySync } from './ready.js';
export {
  pipelineLimitsDefault,
  pipelineRules,
  ReadyPipeline,
  type PipelineDriver,
  type PipelineLimits,
  type PipelineRules,
} from './pipeline.js';
export { assert, AssertionError } from './assert.js';
