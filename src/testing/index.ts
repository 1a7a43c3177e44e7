export {
  testFlavor,
  type ConformanceOptions,
  type ConformanceHelpers,
  type TestRunner,
  type ManagerSettings,
} from './conformance.js';
export {
  assertNoLeak,
  startFaultProxy,
  proxyFaults,
  FAULT_MODES,
  type FaultMode,
  type FaultProxy,
  type FaultProxyOptions,
  type FaultInjection,
  type FaultSetup,
  type ProxyFaultsOptions,
} from './faults.js';
