"""Hotline vocabulary: colloquial Chinese and English wording mapped to common catalog words.

Residents rarely use a catalog's words: they say 黑咕隆咚 for a broken street light, 耗子 for
rats, "pothole" or "no water" in English. ``expand`` appends the common Chinese term for each
such phrase to the text, so the keyword matcher and the model (both trained on the catalog's
Chinese) see a word they know. The table is language knowledge of city-service complaints in
general, not data of one city: any catalog written in ordinary Chinese profits from it, and one
that uses other words simply ignores what it does not contain.
"""

from __future__ import annotations

import re

__all__ = ["expand"]

# (pattern, words to append). Patterns run on normalised (lower-case, half-width) text.
_ENTRIES: tuple[tuple[str, str], ...] = (
    # ---- English -> Chinese
    (r"\bnois[ey]|\bloud\b|\bblasting|too loud|can'?t sleep|\bdin\b", "噪音 吵 扰民"),
    (r"\bbars?\b|\bpubs?\b|nightclub|karaoke|\bktv\b", "酒吧 KTV 商铺噪音"),
    (r"loudspeaker|megaphone|speakers? (?:outside|at the door)", "大喇叭 高音喇叭"),
    (r"\bmusic\b", "音乐"),
    (r"square danc|dancing|dancers", "广场舞 跳舞 音响"),
    (
        r"construction|building site|jackhammer|pile driv|piling|drilling|excavator|demolition",
        "施工 工地 施工噪音",
    ),
    (
        r"(?:at|until|till|after) (?:[0-9]|1[0-2]) ?(?:am|a\.m)|midnight|late at night|all night|"
        r"overnight|early morning|in the night",
        "半夜 夜间 凌晨",
    ),
    (r"upstairs|neighbou?rs?\b|next door", "楼上 邻居"),
    (r"renovat", "装修"),
    (
        r"illegal (?:structure|building|construction|extension)|shed|shack|built an? ",
        "违章搭建 私搭乱建",
    ),
    (r"balcony|rooftop|load-?bearing", "阳台外扩 屋顶加盖 拆承重墙"),
    (r"vendors?|hawkers?|stalls?|peddl|street sell", "摆摊 流动摊贩 占道经营"),
    (r"wet market|food market|vegetable market", "菜市场 菜场门口"),
    (r"garbage|trash|rubbish|\bwaste\b|\bbins?\b|litter", "垃圾 垃圾没人收 清运"),
    (r"toilet|restroom|washroom|\bwc\b|lavator", "公厕 公共厕所"),
    (
        r"\brats?\b|\bmice\b|\bmouse\b|cockroach|roach|termite|\bpests?\b|mosquito|\bflies\b",
        "老鼠 蟑螂 虫害",
    ),
    (r"manhole|drain cover|sewer cover|open hole", "井盖 窨井盖 井盖没了"),
    (
        r"street ?lights?|street ?lamps?|lamp ?posts?|lights? (?:are|is) (?:off|out|broken)|"
        r"pitch dark|no lighting",
        "路灯 路灯不亮 黑漆漆",
    ),
    (
        r"pothole|cracked (?:road|pavement)|road (?:is )?(?:damaged|broken)|sinkhole|"
        r"paving|uneven pavement|loose tiles",
        "路面破损 坑 人行道砖",
    ),
    (
        r"flood|waterlogg|standing water|under water|water (?:up )?to (?:my|the) (?:knee|ankle)",
        "积水 淹水",
    ),
    (
        r"no (?:running )?water|water (?:supply|outage|cut|is off)|low water pressure|tap water|"
        r"yellow water|rusty water|water pipe burst|burst pipe",
        "停水 没水 自来水 水压低",
    ),
    (r"\bdrains?\b|sewer|sewage|blocked pipe|clogged|overflow", "下水道堵了 污水冒出来"),
    (
        r"property management|management company|property fee|estate management|\bhoa\b",
        "物业 物业费",
    ),
    (r"\blifts?\b|elevators?", "电梯 电梯坏了"),
    (r"group rent|overcrowd|sublet|bunk beds?|dozens of (?:people|tenants)", "群租 二房东"),
    (r"parked|parking|double-park|blocking the road|on the sidewalk", "乱停车 违停"),
    (r"shared bikes?|bike-?shar|bicycles|\bbikes\b", "共享单车 乱停乱放"),
    (r"abandoned (?:car|vehicle)|derelict|flat tyres|flat tires", "僵尸车 废弃车辆"),
    (
        r"food poison|diarrh|stomach|expired|hair in|bug in|cockroach in|unhygienic|dirty kitchen|"
        r"rotten|spoiled",
        "食品安全 拉肚子 过期 吃出异物",
    ),
    (
        r"unlicen[cs]ed|no (?:business )?licen[cs]e|without a licen[cs]e|illegal (?:shop|workshop)",
        "无证经营 没有营业执照",
    ),
    (
        r"refund|overcharg|rip-?off|cheat|fake|counterfeit|price|polyester|prepaid card",
        "价格欺诈 不给退款 多收钱",
    ),
    (r"fire (?:lane|exit|escape|access|door)|emergency (?:lane|access)", "消防通道 堵消防通道"),
    (
        r"throw\w* (?:things|stuff|objects|\w+) (?:out|down|from)|from (?:a|the) (?:window|balcony)"
        r"|falling objects",
        "高空抛物 往下扔",
    ),
    (
        r"e-?bikes?|scooters?|electric bikes?|charging (?:cable|wire)|extension cord",
        "电瓶车充电 飞线充电 楼道充电",
    ),
    (r"elderly|senior|old (?:man|woman|people|lady)|aged care|meal delivery", "养老 老人 助餐"),
    (r"welfare|subsistence|allowance|financial (?:aid|hardship)|poverty", "低保 困难补助"),
    (r"\bjobs?\b|unemploy|employment|laid off|job-?seeking", "就业 找工作"),
    (r"\bdogs?\b|\bcats?\b|\bpets?\b|barking|leash", "狗 宠物扰民 遛狗不牵绳"),
    (r"\btrees?\b|branch|prun", "树枝 修剪 大树"),
    (r"company|business|enterprise|\bpermit|\bfirm\b|startup", "企业 公司"),
    (r"party member|communist party", "党员 组织关系"),
    (r"residents'? committee|neighbou?rhood committee", "居委会"),
    (
        r"exhaust|fumes|kitchen smell|cooking smell|oily smoke|grease smoke|barbecue smoke|"
        r"smoke from (?:the|a) restaurant",
        "油烟 排烟管道 饭店油烟",
    ),
    (r"paint|chemical smell|pungent|factory|printing|solvent", "废气 刺鼻气味 喷漆"),
    (r"wages?|salary|salaries|unpaid|not paid|owed", "拖欠工资 欠薪"),
    (r"\bbus(?:es)?\b|bus stop|bus route|bus line", "公交 公交站"),
    (
        r"suggest|recommend|propos|would be nice|should add|thank|prais|compliment",
        "建议 表扬",
    ),
    # ---- colloquial Chinese -> catalog words
    (r"窨井|阴井|检查井|沙井|下水道(?:的)?盖|井圈|雨水箅子|篦子", "井盖 窨井盖"),
    (
        r"黑咕隆咚|黑乎乎|黑灯瞎火|伸手不见五指|灯不亮|灯都不亮|灯全不亮|灯坏|灯灭|灯不亮了",
        "路灯不亮 黑漆漆",
    ),
    (
        r"路面.{0,4}(?:裂|塌|坑|破|烂|凹|鼓)|坑洼|大坑|地砖.{0,3}(?:松|翘|碎|破)|柏油",
        "路面破损 坑坑洼洼",
    ),
    (r"不出水|断水|没自来水|没有自来水|没有水|水龙头.{0,6}(?:没|不)|来水", "停水 没水"),
    (r"水.{0,3}(?:发黄|黄黄|浑浊|有怪味|锈)|锈水|黄水", "自来水发黄 水质"),
    (r"被淹|淹了|淹掉|水漫|积了.{0,4}水|一片汪洋|蹚水|趟水|没过膝盖|没过脚", "积水 淹水"),
    (
        r"阴沟|排水沟|窨井.{0,4}(?:冒|溢)|污水.{0,4}(?:冒|溢|漫|流)|堵塞|反水|返水|马桶.{0,4}堵",
        "下水道堵了 污水冒出来",
    ),
    (r"垃圾(?:桶|箱|站|房|堆)|没人(?:收|清|运|拉)|堆成山", "垃圾 清运"),
    (r"耗子|老鼠|鼠患|小强|蟑螂|蚊蝇|虫子多|臭虫|跳蚤", "老鼠 蟑螂 虫害"),
    (r"厕所|茅房|公共卫生间|公用卫生间|公共洗手间", "公厕 公共厕所"),
    (r"吵|噪声|扰民|震耳|轰隆|咚咚|哐哐|嗡嗡|睡不着|没法睡|不得安宁", "噪音"),
    (
        r"开工|浇筑|打桩|电钻|电锯|电镐|冲击钻|切割机|刨路|挖路|挖掘机|铲车|搅拌车|渣土|拆房|在拆|"
        r"施工队",
        "施工 工地 施工噪音",
    ),
    (
        r"半夜|深更半夜|深夜|凌晨|夜里|晚上(?:十|十一|十二|11|12)|通宵|一两点|两三点|三四点",
        "夜间 半夜",
    ),
    (
        r"乱停|停在人行道|停满|占道停车|违章停车|违停|堵在门口|停在路边|停在非机动车道",
        "乱停车 违停",
    ),
    (r"单车|自行车.{0,4}(?:乱|堆|堵)", "共享单车 乱停乱放"),
    (r"瘪了|落满灰|积满灰|锈迹|几个月没动|半年没动|一直没动|没人开", "僵尸车 长期停放"),
    (
        r"(?:饭|菜|面|汤|粥|盒饭|外卖|食物|饮料|奶茶|包子)里(?:有|吃出|发现|居然有)|"
        r"吃坏|吃了.{0,6}(?:吐|拉)|拉肚子|腹泻|食物中毒|吃出|变质|发霉|过期|不卫生|苍蝇乱飞|地沟油",
        "食品安全 吃坏肚子",
    ),
    (r"执照|无证|没证|证照|黑作坊|小作坊|没有招牌|黑网吧", "无证经营 没有营业执照"),
    (
        r"退款|不给退|不退|多收|乱收费|宰客|坑人|骗人|假货|以次充好|缺斤短两|涨价|价格",
        "价格欺诈 乱收费",
    ),
    (r"消防车?通道|生命通道|消防车.{0,4}进不来", "消防通道 堵消防通道"),
    (
        r"往下[扔丢抛]|往楼下[扔丢抛]|丢下来|扔下来|掉下来.{0,4}(?:砸|差点)|抛物",
        "高空抛物 楼上扔东西",
    ),
    (
        r"充电|拉电线|飞线|插线板|接线板|电[瓶动]车.{0,6}(?:楼道|进楼|上楼|推进)",
        "电瓶车充电 飞线充电",
    ),
    (r"养老|助餐|助浴|护理|老年|独居|长者|敬老|日托|送餐", "养老 居家养老"),
    (r"低保|救助|生活困难|家里困难|实在困难|残疾人补贴|特困|贫困", "低保 社会救助 困难补助"),
    (r"找工作|下岗|找不到工作|没工作|就业|失业|裁员|招聘|岗位|职业培训|再就业|见习", "就业 找工作"),
    (r"狗|犬|猫|宠物|遛|狗屎|狗叫", "狗 宠物扰民"),
    (r"树|枝|绿化带|树叶|树根", "树枝 修剪"),
    (r"企业|公司|营业执照变更|许可证|营商|稳岗|租金补贴|注册", "企业 营商环境"),
    (r"党员|党组织|组织关系|党建|党费|组织生活", "党员 党组织"),
    (r"居委|居民委员会|换届|开证明|楼组长|议事", "居委会"),
    (r"油烟|烟囱|排烟|排风|熏|烧烤味|炒菜味", "油烟 饭店油烟"),
    (r"废气|刺鼻|喷漆|油漆味|化工味|臭气.{0,4}工厂|印刷", "废气 刺鼻气味"),
    (r"工资|欠薪|讨薪|工钱|加班费|劳务费|结工钱", "拖欠工资 欠薪"),
    (r"公交|班次|站牌|候车", "公交 公交站"),
    (r"建议|希望增设|提个意见|表扬|感谢|点赞|锦旗|好人好事", "建议 表扬"),
    (r"摆摊|摊贩|摊头|地摊|设摊|占道经营|叫卖|烧烤摊|夜宵摊", "摆摊 流动摊贩 占道经营"),
    (r"菜场|菜市场|早市|卖菜|活禽", "菜市场 菜场门口"),
    (
        r"违建|违章搭建|违章建筑|搭建|加盖|私搭|彩钢|铁皮|阳光棚|雨棚|外扩|围起来|搭了(?:个|一)",
        "违章搭建 私搭乱建",
    ),
    (r"承重墙|露台|阳台外|天井|院子|楼顶加|破墙", "小区违建"),
    (r"群租|隔间|隔成|分租|合租|住了.{0,4}(?:十几|二十几|好多)个?人|上下铺|宿舍", "群租 隔间"),
    (r"物业|业委会|维修基金|停车费|车位费|管理费", "物业 物业不作为"),
    (r"电梯|升降机|轿厢", "电梯 电梯坏了"),
    (r"广场舞|跳舞|跳操|健身操|腰鼓|领舞|舞蹈队", "广场舞 跳舞"),
    (r"酒吧|ktv|卡拉ok|歌厅|夜店|喇叭|音箱|音响|促销|放音乐", "商铺噪音 大喇叭"),
    (r"打麻将|敲墙|拖椅子|空调外机|跑来跑去|剁肉|弹琴|练琴", "邻里纠纷 噪音"),
)

_COMPILED = tuple((re.compile(pattern), words) for pattern, words in _ENTRIES)


def expand(text: str) -> str:
    """``text`` followed by the common terms its colloquial or English phrases stand for."""
    added: list[str] = []
    for pattern, words in _COMPILED:
        if pattern.search(text):
            added.append(words)
    return f"{text} | {' '.join(added)}" if added else text
