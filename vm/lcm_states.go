// LCM state values and names, transcribed from include/VirtualMachine.h.

package vm

// LCM states (include/VirtualMachine.h). 13, 14, 55 and 58 are retired.
const (
	LCMInit                         LCMState = 0
	LCMProlog                       LCMState = 1
	LCMBoot                         LCMState = 2
	LCMRunning                      LCMState = 3
	LCMMigrate                      LCMState = 4
	LCMSaveStop                     LCMState = 5
	LCMSaveSuspend                  LCMState = 6
	LCMSaveMigrate                  LCMState = 7
	LCMPrologMigrate                LCMState = 8
	LCMPrologResume                 LCMState = 9
	LCMEpilogStop                   LCMState = 10
	LCMEpilog                       LCMState = 11
	LCMShutdown                     LCMState = 12
	LCMCancel                       LCMState = 13
	LCMFailure                      LCMState = 14
	LCMCleanupResubmit              LCMState = 15
	LCMUnknown                      LCMState = 16
	LCMHotplug                      LCMState = 17
	LCMShutdownPoweroff             LCMState = 18
	LCMBootUnknown                  LCMState = 19
	LCMBootPoweroff                 LCMState = 20
	LCMBootSuspended                LCMState = 21
	LCMBootStopped                  LCMState = 22
	LCMCleanupDelete                LCMState = 23
	LCMHotplugSnapshot              LCMState = 24
	LCMHotplugNic                   LCMState = 25
	LCMHotplugSaveas                LCMState = 26
	LCMHotplugSaveasPoweroff        LCMState = 27
	LCMHotplugSaveasSuspended       LCMState = 28
	LCMShutdownUndeploy             LCMState = 29
	LCMEpilogUndeploy               LCMState = 30
	LCMPrologUndeploy               LCMState = 31
	LCMBootUndeploy                 LCMState = 32
	LCMHotplugPrologPoweroff        LCMState = 33
	LCMHotplugEpilogPoweroff        LCMState = 34
	LCMBootMigrate                  LCMState = 35
	LCMBootFailure                  LCMState = 36
	LCMBootMigrateFailure           LCMState = 37
	LCMPrologMigrateFailure         LCMState = 38
	LCMPrologFailure                LCMState = 39
	LCMEpilogFailure                LCMState = 40
	LCMEpilogStopFailure            LCMState = 41
	LCMEpilogUndeployFailure        LCMState = 42
	LCMPrologMigratePoweroff        LCMState = 43
	LCMPrologMigratePoweroffFailure LCMState = 44
	LCMPrologMigrateSuspend         LCMState = 45
	LCMPrologMigrateSuspendFailure  LCMState = 46
	LCMBootUndeployFailure          LCMState = 47
	LCMBootStoppedFailure           LCMState = 48
	LCMPrologResumeFailure          LCMState = 49
	LCMPrologUndeployFailure        LCMState = 50
	LCMDiskSnapshotPoweroff         LCMState = 51
	LCMDiskSnapshotRevertPoweroff   LCMState = 52
	LCMDiskSnapshotDeletePoweroff   LCMState = 53
	LCMDiskSnapshotSuspended        LCMState = 54
	LCMDiskSnapshotDeleteSuspended  LCMState = 56
	LCMDiskSnapshot                 LCMState = 57
	LCMDiskSnapshotDelete           LCMState = 59
	LCMPrologMigrateUnknown         LCMState = 60
	LCMPrologMigrateUnknownFailure  LCMState = 61
	LCMDiskResize                   LCMState = 62
	LCMDiskResizePoweroff           LCMState = 63
	LCMDiskResizeUndeployed         LCMState = 64
	LCMHotplugNicPoweroff           LCMState = 65
	LCMHotplugResize                LCMState = 66
	LCMHotplugSaveasUndeployed      LCMState = 67
	LCMHotplugSaveasStopped         LCMState = 68
	LCMBackup                       LCMState = 69
	LCMBackupPoweroff               LCMState = 70
	LCMRestore                      LCMState = 71
)

var lcmNames = map[LCMState]string{
	0:  "LCM_INIT",
	1:  "PROLOG",
	2:  "BOOT",
	3:  "RUNNING",
	4:  "MIGRATE",
	5:  "SAVE_STOP",
	6:  "SAVE_SUSPEND",
	7:  "SAVE_MIGRATE",
	8:  "PROLOG_MIGRATE",
	9:  "PROLOG_RESUME",
	10: "EPILOG_STOP",
	11: "EPILOG",
	12: "SHUTDOWN",
	13: "CANCEL",
	14: "FAILURE",
	15: "CLEANUP_RESUBMIT",
	16: "UNKNOWN",
	17: "HOTPLUG",
	18: "SHUTDOWN_POWEROFF",
	19: "BOOT_UNKNOWN",
	20: "BOOT_POWEROFF",
	21: "BOOT_SUSPENDED",
	22: "BOOT_STOPPED",
	23: "CLEANUP_DELETE",
	24: "HOTPLUG_SNAPSHOT",
	25: "HOTPLUG_NIC",
	26: "HOTPLUG_SAVEAS",
	27: "HOTPLUG_SAVEAS_POWEROFF",
	28: "HOTPLUG_SAVEAS_SUSPENDED",
	29: "SHUTDOWN_UNDEPLOY",
	30: "EPILOG_UNDEPLOY",
	31: "PROLOG_UNDEPLOY",
	32: "BOOT_UNDEPLOY",
	33: "HOTPLUG_PROLOG_POWEROFF",
	34: "HOTPLUG_EPILOG_POWEROFF",
	35: "BOOT_MIGRATE",
	36: "BOOT_FAILURE",
	37: "BOOT_MIGRATE_FAILURE",
	38: "PROLOG_MIGRATE_FAILURE",
	39: "PROLOG_FAILURE",
	40: "EPILOG_FAILURE",
	41: "EPILOG_STOP_FAILURE",
	42: "EPILOG_UNDEPLOY_FAILURE",
	43: "PROLOG_MIGRATE_POWEROFF",
	44: "PROLOG_MIGRATE_POWEROFF_FAILURE",
	45: "PROLOG_MIGRATE_SUSPEND",
	46: "PROLOG_MIGRATE_SUSPEND_FAILURE",
	47: "BOOT_UNDEPLOY_FAILURE",
	48: "BOOT_STOPPED_FAILURE",
	49: "PROLOG_RESUME_FAILURE",
	50: "PROLOG_UNDEPLOY_FAILURE",
	51: "DISK_SNAPSHOT_POWEROFF",
	52: "DISK_SNAPSHOT_REVERT_POWEROFF",
	53: "DISK_SNAPSHOT_DELETE_POWEROFF",
	54: "DISK_SNAPSHOT_SUSPENDED",
	56: "DISK_SNAPSHOT_DELETE_SUSPENDED",
	57: "DISK_SNAPSHOT",
	59: "DISK_SNAPSHOT_DELETE",
	60: "PROLOG_MIGRATE_UNKNOWN",
	61: "PROLOG_MIGRATE_UNKNOWN_FAILURE",
	62: "DISK_RESIZE",
	63: "DISK_RESIZE_POWEROFF",
	64: "DISK_RESIZE_UNDEPLOYED",
	65: "HOTPLUG_NIC_POWEROFF",
	66: "HOTPLUG_RESIZE",
	67: "HOTPLUG_SAVEAS_UNDEPLOYED",
	68: "HOTPLUG_SAVEAS_STOPPED",
	69: "BACKUP",
	70: "BACKUP_POWEROFF",
	71: "RESTORE",
}
