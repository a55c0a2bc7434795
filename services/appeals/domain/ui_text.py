"""The staff UI's and the resident page's words: a small message catalog, zh-CN first, English.

Pure. ``text(key, lang)`` looks a message up (falling back to Chinese, then to the key itself,
so a missing translation shows up as its key instead of breaking a page); ``language`` picks
the language from an explicit choice (``?lang=``, a cookie) or the staff account's setting.
States, events, roles, queues and command names are labelled here too, so templates never
spell a domain word themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "MESSAGES",
    "language",
    "text",
]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"

_M = dict[str, tuple[str, str]]

# key -> (zh-CN, en)
_GENERAL: _M = {
    "app.title": ("12345 市民诉求办理", "12345 residents' appeals"),
    "nav.operator": ("话务受理", "Call intake"),
    "nav.queue": ("单位工作台", "Unit queue"),
    "nav.coordinator": ("街道统筹", "Street coordination"),
    "nav.triage": ("区派单中心", "District dispatch"),
    "nav.status": ("诉求查询", "Appeal status"),
    "nav.logout": ("退出", "Log out"),
    "nav.language": ("English", "中文"),
    "nav.live": ("实时", "Live"),
    "nav.offline": ("离线", "Offline"),
    "login.title": ("工作人员登录", "Staff login"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.invalid": ("用户名或密码错误", "Invalid username or password"),
    "login.locked": ("登录失败次数过多，请稍后再试", "Too many failed logins; try again later"),
    "csrf.invalid": (
        "页面已过期，请重新提交",
        "The page has expired; please submit the form again",
    ),
    "error.title": ("出错了", "Something went wrong"),
    "error.not_found": ("未找到该诉求", "No such appeal"),
    "error.forbidden": ("无权查看", "You may not see this"),
    "error.back": ("返回", "Back"),
    "home.title": ("工作台", "Desk"),
    "home.no_desk": (
        "您的账号没有对应的工作台，请从上方菜单选择。",
        "Your account has no desk of its own; pick one from the menu above.",
    ),
    # operator console
    "op.title": ("话务受理", "Hotline call intake"),
    "op.caller_phone": ("来电号码", "Caller's number"),
    "op.text": ("诉求内容", "What the caller says"),
    "op.text_hint": ("Ctrl+Enter 提交", "Ctrl+Enter submits"),
    "op.address": ("地址", "Address"),
    "op.matter": ("事项", "Matter"),
    "op.matter_auto": ("由系统自动分类", "Let the router classify"),
    "op.suggested": ("建议事项", "Suggested matters"),
    "op.suggest_unavailable": (
        "智能建议暂不可用，请从列表选择",
        "Suggestions are unavailable; choose from the list",
    ),
    "op.name": ("来电人姓名", "Caller's name"),
    "op.submit": ("提交工单", "Record the call"),
    "op.duplicates": (
        "可能重复：同一地址近期已有相似诉求",
        "Possible duplicate: similar open appeals at this address recently",
    ),
    "op.done_title": ("已受理", "Recorded"),
    "op.tracking_no": ("工单编号", "Tracking number"),
    "op.token": ("查询密码", "Status password"),
    "op.read_back": (
        "请向来电人复述工单编号和查询密码",
        "Read the tracking number and the status password back to the caller",
    ),
    "op.token_once": (
        "查询密码只显示这一次",
        "The status password is shown this once only",
    ),
    "op.replayed": (
        "这通来电已记录过，查询密码不再显示",
        "This call was recorded before; its status password cannot be shown again",
    ),
    "op.next_call": ("受理下一通来电", "Take the next call"),
    "op.invalid": ("请检查：", "Please check: "),
    "op.need_where": ("请填写地址", "Give an address"),
    "op.need_text": ("请填写诉求内容", "Say what the appeal is about"),
    # queues
    "queue.title": ("单位工作台", "Unit work queue"),
    "queue.new": ("待签收", "New"),
    "queue.in_progress": ("办理中", "In progress"),
    "queue.waiting": ("等待中", "Waiting"),
    "queue.due_soon": ("即将到期", "Due soon"),
    "queue.overdue": ("已超期", "Overdue"),
    "queue.co_handling": ("协办", "Co-handling"),
    "queue.empty": ("暂无工单", "Nothing here"),
    "queue.unit": ("单位", "Unit"),
    "street.title": ("街道统筹（综合管理权）", "Street coordination (comprehensive authority)"),
    "street.open": ("全部在办", "All open"),
    "street.returns": ("退单待定", "Returns to decide"),
    "street.extensions": ("延期审批", "Extensions"),
    "street.comprehensive": ("综合事项", "Comprehensive matters"),
    "street.due_soon": ("即将到期", "Due soon"),
    "street.overdue": ("已超期", "Overdue"),
    "district.title": ("区12345派单中心", "District 12345 dispatch centre"),
    "district.triage": ("待人工派单", "Triage"),
    "district.extensions": ("延期审批", "Extensions"),
    "col.tracking_no": ("编号", "No."),
    "col.text": ("内容", "Appeal"),
    "col.address": ("地址", "Address"),
    "col.matter": ("事项", "Matter"),
    "col.unit": ("承办单位", "Lead unit"),
    "col.state": ("状态", "State"),
    "col.due": ("时限", "Due"),
    "col.actions": ("操作", "Actions"),
    "due.left": ("剩余", "left"),
    "due.over": ("已超时", "overdue by"),
    "due.paused": ("已暂停", "paused"),
    "due.none": ("—", "—"),
    "live.new_work": ("新工单", "New work"),
    "live.deadline": ("时限提醒", "Deadline warning"),
    "live.changed": ("工单更新", "Appeal updated"),
    "live.due_soon": ("即将到期", "due soon"),
    "live.overdue": ("已超期", "overdue"),
    # actions
    "act.sign": ("签收", "Sign"),
    "act.respond": ("已联系居民", "Contacted resident"),
    "act.respond_message": ("联系情况", "What was said"),
    "act.return": ("退单", "Return"),
    "act.reason": ("理由", "Reason"),
    "act.extension_request": ("申请延期", "Request extension"),
    "act.workdays": ("工作日", "Working days"),
    "act.extension_approve": ("批准延期", "Approve extension"),
    "act.extension_reject": ("驳回延期", "Reject extension"),
    "act.pause": ("暂停计时", "Pause"),
    "act.resume": ("恢复计时", "Resume"),
    "act.resolve": ("办结", "Resolve"),
    "act.result": ("办理结果", "Result"),
    "act.solved": ("问题已解决", "Solved"),
    "act.review": ("录入回访", "Record review"),
    "act.reopen": ("重办", "Reopen"),
    "act.close": ("结案", "Close"),
    "act.reassign": ("改派", "Reassign"),
    "act.dispatch": ("派单", "Dispatch"),
    "act.supervise": ("督办", "Supervise"),
    "act.supervision_ack": ("确认督办", "Acknowledge supervision"),
    "act.note": ("添加备注", "Add note"),
    "act.note_internal": ("内部备注", "Internal note"),
    "act.message": ("回复居民", "Message to the resident"),
    "act.merge": ("合并", "Merge"),
    "act.master_id": ("主工单ID", "Master appeal id"),
    "act.co_handlers": ("协办单位", "Co-handlers"),
    "act.note_text": ("内容", "Text"),
    "act.submit": ("确定", "Confirm"),
    "act.done": ("已完成：", "Done: "),
    "act.refused": ("未能执行：", "Refused: "),
    "act.stale": (
        "该工单已被他人更新，请刷新后重试",
        "Someone else changed this appeal first; reload and try again",
    ),
    "act.open": ("详情", "Details"),
    # coordinator / triage details
    "coord.suggestion": ("系统建议", "Router's suggestion"),
    "coord.lead": ("牵头单位", "Lead"),
    "coord.co_handlers": ("协办单位", "Co-handlers"),
    "coord.progress_notes": ("条进展", "notes"),
    "coord.returned_by": ("退单单位", "Returned by"),
    "coord.extension": ("延期申请", "Extension request"),
    "triage.candidates": ("候选单位", "Candidates"),
    "triage.reasons": ("分派依据", "Reasons"),
    "triage.confidence": ("置信度", "Confidence"),
    # appeal page
    "appeal.title": ("诉求详情", "Appeal"),
    "appeal.channel": ("渠道", "Channel"),
    "appeal.received_at": ("受理时间", "Received"),
    "appeal.deadlines": ("办理时限", "Deadlines"),
    "appeal.sign_by": ("签收时限", "Sign by"),
    "appeal.respond_by": ("联系时限", "Respond by"),
    "appeal.resolve_by": ("办结时限", "Resolve by"),
    "appeal.place": ("位置", "Place"),
    "appeal.no_map": ("无坐标", "No coordinates"),
    "appeal.history": ("办理记录", "History"),
    "appeal.event": ("环节", "Step"),
    "appeal.actor": ("操作人", "By"),
    "appeal.time": ("时间", "Time"),
    "appeal.details": ("说明", "Details"),
    "appeal.notes": ("备注与回复", "Notes and messages"),
    "appeal.internal": ("内部", "internal"),
    "appeal.to_resident": ("给居民", "to resident"),
    "appeal.contact": ("联系人", "Contact"),
    "appeal.duplicate_of": ("疑似重复于", "Suspected duplicate of"),
    "appeal.result": ("办理结果", "Result"),
    "appeal.community": ("社区", "Community"),
    "appeal.street": ("街道", "Street"),
    "appeal.district": ("区", "District"),
    "appeal.actions": ("可办理操作", "What you can do"),
    "appeal.no_actions": ("当前无可执行操作", "Nothing for you to do now"),
    # resident status page
    "status.title": ("诉求办理进度查询", "Track your appeal"),
    "status.tracking_no": ("工单编号", "Tracking number"),
    "status.token": ("查询密码", "Status password"),
    "status.lookup": ("查询", "Look up"),
    "status.not_found": (
        "编号或查询密码不正确",
        "No appeal with this tracking number and password",
    ),
    "status.rate_limited": ("查询过于频繁，请一分钟后再试", "Too many look-ups; try in a minute"),
    "status.state": ("当前状态", "Status"),
    "status.unit": ("承办单位", "Handled by"),
    "status.resolve_by": ("预计办结", "Expected by"),
    "status.result": ("办理结果", "Result"),
    "status.history": ("办理进度", "Progress"),
    "status.messages": ("工作人员回复", "Messages from staff"),
    "status.review_title": ("满意度评价", "Rate the result"),
    "status.satisfied": ("满意", "Satisfied"),
    "status.basically_satisfied": ("基本满意", "Basically satisfied"),
    "status.unsatisfied": ("不满意", "Unsatisfied"),
    "status.solved": ("问题已解决", "My problem is solved"),
    "status.comment": ("意见建议", "Comment"),
    "status.review_submit": ("提交评价", "Submit"),
    "status.thanks": ("感谢您的评价", "Thank you for your rating"),
    "status.your_rating": ("您的评价", "Your rating"),
    "status.merged": (
        "您的诉求已与同一事项合并办理",
        "Your appeal is handled together with another about the same matter",
    ),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
}

_STATES: _M = {
    "state.received": ("已受理", "Received"),
    "state.triage": ("待派单", "In triage"),
    "state.dispatched": ("已派单", "Dispatched"),
    "state.signed": ("已签收", "Signed"),
    "state.responded": ("已联系", "Responded"),
    "state.returned": ("已退单", "Returned"),
    "state.resolved": ("已办结", "Resolved"),
    "state.reviewed": ("已回访", "Reviewed"),
    "state.closed": ("已结案", "Closed"),
    "state.transferred": ("已转办", "Transferred"),
    "state.merged": ("已合并", "Merged"),
}

_EVENTS: _M = {
    "event.appeal.received": ("受理", "received"),
    "event.appeal.dispatched": ("派单", "dispatched"),
    "event.appeal.triaged": ("转区派单中心", "sent to triage"),
    "event.appeal.transferred": ("转办", "transferred"),
    "event.appeal.signed": ("签收", "signed"),
    "event.appeal.responded": ("联系居民", "responded"),
    "event.appeal.returned": ("退单", "returned"),
    "event.appeal.extension_requested": ("申请延期", "extension requested"),
    "event.appeal.extended": ("延期", "extended"),
    "event.appeal.extension_rejected": ("延期驳回", "extension rejected"),
    "event.appeal.paused": ("暂停计时", "paused"),
    "event.appeal.resumed": ("恢复计时", "resumed"),
    "event.appeal.resolved": ("办结", "resolved"),
    "event.appeal.reviewed": ("回访", "reviewed"),
    "event.appeal.reopened": ("重办", "reopened"),
    "event.appeal.closed": ("结案", "closed"),
    "event.appeal.merged": ("合并", "merged"),
    "event.appeal.supervised": ("督办", "supervised"),
    "event.appeal.supervision_acknowledged": ("确认督办", "supervision acknowledged"),
    "event.appeal.overdue": ("超期", "overdue"),
    "event.appeal.note_added": ("备注", "note"),
}

_ROLES: _M = {
    "role.operator": ("话务员", "operator"),
    "role.unit_staff": ("承办单位", "unit staff"),
    "role.coordinator": ("街道统筹", "street coordinator"),
    "role.dispatcher": ("区派单员", "district dispatcher"),
    "role.district_admin": ("区管理员", "district admin"),
    "role.viewer": ("只读", "viewer"),
    "role.system": ("系统", "system"),
    "role.resident": ("居民", "resident"),
}

_CHANNELS: _M = {
    "channel.web": ("网站", "web"),
    "channel.hotline": ("热线", "hotline"),
    "channel.open311": ("Open311", "Open311"),
}

_FIELDS: _M = {
    "field.text": ("内容", "text"),
    "field.address": ("地址", "address"),
    "field.matter": ("事项", "matter"),
    "field.lead_unit": ("承办单位", "lead unit"),
    "field.co_handlers": ("协办单位", "co-handlers"),
    "field.by": ("派单方", "by"),
    "field.to": ("转至", "to"),
    "field.dispatch_center": ("派单中心", "dispatch centre"),
    "field.reason": ("理由", "reason"),
    "field.returned_by": ("退单单位", "returned by"),
    "field.workdays": ("工作日", "working days"),
    "field.message": ("联系情况", "message"),
    "field.result": ("结果", "result"),
    "field.solved": ("已解决", "solved"),
    "field.satisfaction": ("满意度", "satisfaction"),
    "field.comment": ("意见", "comment"),
    "field.level": ("级别", "level"),
    "field.note": ("说明", "note"),
    "field.deadline": ("时限", "deadline"),
    "field.master_id": ("主工单", "master appeal"),
    "field.internal": ("内部", "internal"),
    "field.confidence": ("置信度", "confidence"),
    "field.reasons": ("依据", "reasons"),
    "urgency.urgent": ("紧急", "urgent"),
    "urgency.normal": ("一般", "normal"),
    "urgency.advice": ("建议类", "advice"),
}

MESSAGES: Mapping[str, tuple[str, str]] = {
    **_GENERAL,
    **_FIELDS,
    **_STATES,
    **_EVENTS,
    **_ROLES,
    **_CHANNELS,
}


def language(choice: str | None, account_language: str | None = None) -> str:
    """The page language: an explicit supported choice, else the account's, else Chinese."""
    for candidate in (choice, account_language):
        if candidate in LANGUAGES:
            return str(candidate)
    return DEFAULT_LANGUAGE


def text(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The message ``key`` in ``lang`` (Chinese when untranslated, the key when unknown)."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    zh, en = entry
    return en if lang == "en" and en else zh
